"""Writing the audit trail and reading a patient's; all of its SQL is here.

Every audited answer and its audit row are one transaction: a service calls
``record_event`` on the connection of its own transaction (or, on a hot path,
inserts the rows from a data-modifying CTE of the statement that reads, as
``users.service.read_records`` does for a whole batch of reads). If a row cannot be
written, the transaction fails and the caller gets 503 instead of the data: nothing
is shown or changed that the trail does not record.

Rows hold ids, an action, an outcome and an address, never a health value.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import AsyncConnection

from docmemo.auth.schemas import Identity
from docmemo.db.models import AuditAction, AuditOutcome, Specialty
from docmemo.errors import DatabaseUnavailable, InvalidInput, NotFound
from docmemo.users.names import clean_name

log = logging.getLogger(__name__)

AUDIT_FAILED = "The access could not be written to the audit trail, so it was refused"
NO_SUCH_PATIENT = "No such patient"
# Who may read a patient's trail: neurologists and general practitioners.
TRAIL_READERS = frozenset({Specialty.NEUROLOGIST, Specialty.GENERAL})
_LARGEST_EVENT_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class AuditEntry:
    event_id: int
    occurred_at: datetime
    actor_id: str | None
    actor_name: str | None
    action: AuditAction
    outcome: AuditOutcome
    address: str | None


@dataclass(frozen=True, slots=True)
class AuditTrail:
    patient_id: str
    patient_name: str
    events: list[AuditEntry]
    # The ``before`` of the next (older) page, or None on the last page.
    next_before: int | None


def normalize_address(host: str | None) -> str | None:
    """The client's IP address as PostgreSQL's ``inet`` takes it, or None when the
    server saw no IP address (a Unix socket, a test client's made-up host). Every
    function here that takes an ``address`` passes it through this."""
    if not host:
        return None
    try:
        # An IPv6 zone ("fe80::1%eth0") is local to this machine; inet refuses it.
        return str(ipaddress.ip_address(host.strip("[]").partition("%")[0]))
    except ValueError:
        return None


def may_read_trail(reader: Identity) -> bool:
    return reader.is_healthpro and reader.specialty in TRAIL_READERS


@asynccontextmanager
async def audit_or_refuse() -> AsyncIterator[None]:
    """Turn a failure to write an audit row into 503 (DatabaseUnavailable), so that
    the caller's transaction is rolled back and nothing is answered. A lost database
    connection stays what it is (503 as well, by its own handler)."""
    try:
        yield
    except psycopg.OperationalError:
        raise
    except psycopg.DatabaseError as error:
        # The type and SQLSTATE only: a message may quote the row.
        log.error(
            "audit row not written, access refused: %s (SQLSTATE %s)",
            type(error).__name__,
            error.sqlstate,
        )
        raise DatabaseUnavailable(AUDIT_FAILED) from None


_INSERT_EVENT = """
    INSERT INTO audit_events (actor_id, subject_id, action, outcome, address)
    VALUES (%(actor_id)s, %(subject_id)s, %(action)s, %(outcome)s, %(address)s::inet)
"""


async def record_event(
    db: AsyncConnection,
    *,
    actor_id: str | None,
    subject_id: str,
    action: AuditAction,
    address: str | None,
    outcome: AuditOutcome = AuditOutcome.ALLOWED,
) -> None:
    """Append one audit row on ``db``, inside the caller's transaction (or as its own
    statement in autocommit). Raises DatabaseUnavailable (503) if it cannot."""
    async with audit_or_refuse():
        await db.execute(
            _INSERT_EVENT,
            {
                "actor_id": actor_id,
                "subject_id": subject_id,
                "action": action.value,
                "outcome": outcome.value,
                "address": normalize_address(address),
            },
        )


_INSERT_REFUSAL = """
    INSERT INTO audit_events (actor_id, subject_id, action, outcome, address)
    SELECT %(actor_id)s, user_id, %(action)s, 'denied', %(address)s::inet
    FROM users WHERE name_key(name) = name_key(%(name)s) AND status = 'patient'
"""


async def record_refusal(
    db: AsyncConnection,
    *,
    actor_id: str,
    raw_name: str,
    action: AuditAction,
    address: str | None,
) -> None:
    """Append a ``denied`` row for a logged-in user refused the data of the patient of
    this name; nothing when no patient has that name (there is no subject to file it
    under, and the answer is the same). One statement: call it before raising."""
    try:
        name = clean_name(raw_name)
    except InvalidInput:
        return  # no patient can have this name
    async with audit_or_refuse():
        await db.execute(
            _INSERT_REFUSAL,
            {
                "actor_id": actor_id,
                "action": action.value,
                "address": normalize_address(address),
                "name": name,
            },
        )


# One statement: the reading is audited by the same (autocommit) transaction that
# reads. The new row is not in this page (a statement does not see its own CTE's
# inserts); it is the first row of the next reading.
_READ_TRAIL = """
    WITH patient AS (
        SELECT u.user_id, u.name FROM users u
        WHERE name_key(u.name) = name_key(%(name)s) AND u.status = 'patient'
    ), audited AS (
        INSERT INTO audit_events (actor_id, subject_id, action, address)
        SELECT %(reader_id)s, user_id, 'read_audit_trail', %(address)s::inet FROM patient
    )
    SELECT p.user_id AS patient_id, p.name AS patient_name,
           e.event_id, e.occurred_at, e.actor_id, a.name AS actor_name, e.action, e.outcome,
           host(e.address) AS address
    FROM patient p
    LEFT JOIN LATERAL (
        SELECT * FROM audit_events
        WHERE subject_id = p.user_id AND event_id < %(before)s
        ORDER BY event_id DESC
        LIMIT %(limit)s
    ) e ON true
    LEFT JOIN users a ON a.user_id = e.actor_id
    ORDER BY e.event_id DESC
"""


async def read_trail(
    db: AsyncConnection,
    reader: Identity,
    raw_name: str,
    *,
    address: str | None,
    limit: int,
    before: int | None = None,
) -> AuditTrail:
    """The patient's audit events older than ``before`` (default: all), newest first,
    at most ``limit``; the reading itself is audited. The caller has checked that
    the reader may read trails (``may_read_trail``)."""
    name = clean_name(raw_name)
    async with audit_or_refuse():
        cursor = await db.execute(
            _READ_TRAIL,
            {
                "name": name,
                "reader_id": reader.user_id,
                "address": normalize_address(address),
                "before": before or _LARGEST_EVENT_ID,
                # One more than asked, to know whether an older page exists.
                "limit": limit + 1,
            },
        )
        rows = await cursor.fetchall()
    if not rows:
        raise NotFound(NO_SUCH_PATIENT)
    events = [
        AuditEntry(
            event_id=row.event_id,
            occurred_at=row.occurred_at,
            actor_id=row.actor_id,
            actor_name=row.actor_name,
            action=AuditAction(row.action),
            outcome=AuditOutcome(row.outcome),
            address=row.address,
        )
        for row in rows
        if row.event_id is not None
    ]
    more = len(events) > limit
    events = events[:limit]
    return AuditTrail(
        patient_id=rows[0].patient_id,
        patient_name=rows[0].patient_name,
        events=events,
        next_before=events[-1].event_id if more else None,
    )
