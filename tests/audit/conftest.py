"""Fixtures of the audit tests: clients at known addresses, a family of users, the
audit rows of one subject, and audit inserts made to fail."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from docmemo.db.models import Role, Specialty
from tests.helpers import make_user

# TEST-NET addresses (RFC 5737): never a real client.
REMOTE_ADDRESS = "203.0.113.7"


@asynccontextmanager
async def client_at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real app whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http


@pytest.fixture
async def remote_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_at(app, REMOTE_ADDRESS) as http:
        yield http


@pytest.fixture
async def family(pool):
    """A patient with a caregiver, another patient with another caregiver, and a
    health professional of each specialty."""
    carer = await make_user(pool, Role.CAREGIVER)
    other_carer = await make_user(pool, Role.CAREGIVER)
    return {
        "carer": carer,
        "other_carer": other_carer,
        "patient": await make_user(pool, Role.PATIENT, caregiver_id=carer.user_id),
        "other_patient": await make_user(pool, Role.PATIENT, caregiver_id=other_carer.user_id),
        "lonely_patient": await make_user(pool, Role.PATIENT),
        "general": await make_user(pool, Role.HEALTHPRO, specialty=Specialty.GENERAL),
        "psychologist": await make_user(pool, Role.HEALTHPRO, specialty=Specialty.PSYCHOLOGIST),
        "neurologist": await make_user(pool, Role.HEALTHPRO, specialty=Specialty.NEUROLOGIST),
    }


def audit_rows(engine: Engine, subject_id: str, *, skip_creation: bool = True) -> list[dict]:
    """The audit rows filed under ``subject_id``, oldest first; by default without the
    creation of the subject (every user made by a test has one)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT actor_id, subject_id, action, outcome, host(address) AS address "
                "FROM audit_events WHERE subject_id = :subject_id "
                "AND (action <> 'create_user' OR NOT :skip_creation) ORDER BY event_id"
            ),
            {"subject_id": subject_id, "skip_creation": skip_creation},
        )
        return [dict(row._mapping) for row in rows]


def audit_row(actor_id: str | None, subject_id: str, action: str, **fields: object) -> dict:
    """An expected row of ``audit_rows``: allowed, from REMOTE_ADDRESS unless told."""
    return {
        "actor_id": actor_id,
        "subject_id": subject_id,
        "action": action,
        "outcome": "allowed",
        "address": REMOTE_ADDRESS,
        **fields,
    }


@contextmanager
def failing_audit_inserts(engine: Engine, condition: str) -> Iterator[None]:
    """While inside, inserting an audit row for which the SQL ``condition`` (on NEW)
    holds raises an error, as a full disk or a revoked privilege would."""
    suffix = uuid.uuid4().hex[:8]
    function, trigger = f"test_fail_audit_{suffix}", f"test_fail_audit_{suffix}"
    with engine.begin() as conn:
        conn.execute(
            text(f"""
                CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION 'audit insert made to fail by a test';
                END $$""")
        )
        conn.execute(
            text(f"""
                CREATE TRIGGER {trigger} BEFORE INSERT ON audit_events FOR EACH ROW
                WHEN ({condition}) EXECUTE FUNCTION {function}()""")
        )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER {trigger} ON audit_events"))
            conn.execute(text(f"DROP FUNCTION {function}()"))
