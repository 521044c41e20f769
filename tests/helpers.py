"""Shared test helpers: make users through the real service, log in over HTTP."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, text

from docmemo.auth.schemas import Identity
from docmemo.auth.service import token_digest
from docmemo.config import Settings
from docmemo.db.models import Role, Specialty
from docmemo.users import service
from docmemo.users.schemas import NewUser
from docmemo.web.app import create_app

PASSWORD = "Correct-Horse-7"
# Creating a health professional needs a health professional; this one only vouches.
FOUNDING_HEALTHPRO = Identity(
    user_id="0" * 32, name="Founder", status=Role.HEALTHPRO, specialty=Specialty.GENERAL
)


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on an app of its own, for settings other than the tests' own
    (an unreachable database, say). Errors come back as answers, as over a network."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            yield http


def unique_name(prefix: str = "Test") -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}x"


async def make_user(
    pool: AsyncConnectionPool,
    role: Role,
    name: str | None = None,
    password: str = PASSWORD,
    **fields: object,
) -> service.UserRecord:
    if role is Role.PATIENT:
        fields = {"age": 70, "mmse": 22, **fields}
    if role is Role.HEALTHPRO:
        fields = {"specialty": Specialty.GENERAL, **fields}
    new_user = NewUser(status=role, password=password, **fields)
    return await service.create_user(
        pool, FOUNDING_HEALTHPRO, name or unique_name(role.value), new_user
    )


async def login(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    response = await client.get("/login", params={"name": name, "password": password})
    assert response.status_code == 200, response.text
    return response


async def start_session(pool: AsyncConnectionPool, user_id: str, settings: Settings) -> str:
    """A live session of this user, as a login starts it but without Argon2: its token."""
    token = secrets.token_urlsafe(32)
    async with pool.connection() as db:
        await db.execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at) "
            "VALUES (%(token_hash)s, %(user_id)s, now() + interval '1 hour')",
            {"token_hash": token_digest(token, settings.secret_key), "user_id": user_id},
        )
    return token


def move_session(engine: Engine, token: str, settings: Settings, assignments: str) -> None:
    """Move a session in time (``assignments``: SQL for its columns), instead of sleeping."""
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE sessions SET {assignments} WHERE token_hash = :h"),
            {"h": token_digest(token, settings.secret_key)},
        )


def last_seen(engine: Engine, token: str, settings: Settings) -> datetime:
    """The last use recorded for a session."""
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT last_seen_at FROM sessions WHERE token_hash = :h"),
            {"h": token_digest(token, settings.secret_key)},
        ).scalar_one()


def plan_nodes(
    cursor: Any, sql: str, params: Mapping[str, Any] | Sequence[Any], *, analyze: bool = False
) -> list[dict]:
    """Every node of the plan PostgreSQL makes for ``sql`` with ``params`` (a service's
    own statement and parameters), executed first if ``analyze``; never prepared."""
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    cursor.execute(f"EXPLAIN ({options}) {sql}", params, prepare=False)
    (plan,) = cursor.fetchone()
    nodes: list[dict] = []

    def walk(node: dict) -> None:
        nodes.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
    return nodes
