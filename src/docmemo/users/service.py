"""Creating users with their role rules, and reading one record; all their SQL is here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from psycopg import AsyncConnection
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from docmemo.audit.service import audit_or_refuse, normalize_address, record_event
from docmemo.auth.passwords import hash_password_off_loop
from docmemo.auth.schemas import Identity
from docmemo.db.models import MAX_AGE, AuditAction, Role
from docmemo.errors import Forbidden, InvalidInput, NameTaken, NotFound
from docmemo.users.names import clean_name
from docmemo.users.schemas import NewUser

_NAME_INDEX = "uq_users_name_key"

_ROLE_FIELDS: dict[Role, tuple[set[str], set[str]]] = {
    # role: (required, allowed)
    Role.PATIENT: ({"age", "mmse"}, {"age", "mmse", "caregiver_id"}),
    Role.CAREGIVER: (set(), set()),
    Role.HEALTHPRO: ({"specialty"}, {"specialty"}),
}


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    name: str
    status: Role
    age: int | None = None
    mmse: int | None = None
    caregiver_id: str | None = None
    specialty: str | None = None


def check_fields_fit_role(new_user: NewUser) -> None:
    """Refuse (422) a parameter another role takes, or a missing one this role needs."""
    given = {
        field
        for field in ("age", "mmse", "caregiver_id", "specialty")
        if getattr(new_user, field) is not None
    }
    required, allowed = _ROLE_FIELDS[new_user.status]
    if extra := sorted(given - allowed):
        raise InvalidInput(f"{', '.join(extra)} does not apply to a {new_user.status.value}")
    if missing := sorted(required - given):
        raise InvalidInput(f"a {new_user.status.value} needs {', '.join(missing)}")
    if new_user.mmse is not None and not 0 <= new_user.mmse <= 30:
        raise InvalidInput("mmse must be between 0 and 30")
    if new_user.age is not None and not 0 <= new_user.age <= MAX_AGE:
        raise InvalidInput(f"age must be between 0 and {MAX_AGE}")


def normalize_user_id(raw: str) -> str:
    """Accept a UUID as 32 hex characters (or with dashes); return 32 lowercase hex."""
    try:
        return uuid.UUID(raw.strip()).hex
    except ValueError:
        raise InvalidInput("caregiver_id must be a user id (32 hexadecimal characters)") from None


def can_create(actor: Identity | None, role: Role) -> bool:
    """Anyone may add a patient or a caregiver; only a health professional adds one."""
    return role is not Role.HEALTHPRO or (actor is not None and actor.is_healthpro)


def can_read(viewer: Identity, record: UserRecord) -> bool:
    """Health professionals read anyone; others themselves; caregivers their patients."""
    return (
        viewer.is_healthpro
        or viewer.user_id == record.user_id
        or (viewer.status is Role.CAREGIVER and record.caregiver_id == viewer.user_id)
    )


_FIND_RECORD = """
    SELECT u.user_id, u.name, u.status, p.age, p.mmse, p.caregiver_id, h.specialty
    FROM users u
    LEFT JOIN patients p ON p.user_id = u.user_id
    LEFT JOIN healthpros h ON h.user_id = u.user_id
    WHERE name_key(u.name) = name_key(%(name)s)
"""


async def find_record(db: AsyncConnection, name: str) -> UserRecord | None:
    row = await (await db.execute(_FIND_RECORD, {"name": name})).fetchone()
    if row is None:
        return None
    return UserRecord(**{**row._asdict(), "status": Role(row.status)})


# find_record and the audit row of a patient's record in one statement, hence one
# (autocommit) transaction and no extra round trip: the record is answered only if
# its audit row is written. ``allowed`` is can_read in SQL, so that the row says
# whether the record was shown (tests/audit compares the two on every pair of roles).
_READ_RECORD_AUDITED = """
    WITH record AS (
        SELECT u.user_id, u.name, u.status, p.age, p.mmse, p.caregiver_id, h.specialty,
               (%(sees_everyone)s OR u.user_id = %(viewer_id)s
                OR (%(viewer_is_caregiver)s AND p.caregiver_id = %(viewer_id)s))
               IS TRUE AS allowed
        FROM users u
        LEFT JOIN patients p ON p.user_id = u.user_id
        LEFT JOIN healthpros h ON h.user_id = u.user_id
        WHERE name_key(u.name) = name_key(%(name)s)
    ), audited AS (
        INSERT INTO audit_events (actor_id, subject_id, action, outcome, address)
        SELECT %(viewer_id)s, user_id, 'read_record',
               CASE WHEN allowed THEN 'allowed' ELSE 'denied' END, %(address)s::inet
        FROM record WHERE status = 'patient'
    )
    SELECT * FROM record
"""


async def read_record(
    db: AsyncConnection, viewer: Identity, raw_name: str, address: str | None = None
) -> UserRecord:
    """The record of this name, if the viewer may read it; otherwise NotFound, the same
    answer as for a name nobody has, so that nothing can be learnt from it. Looking
    up a patient's record is audited (read_record, allowed or denied, from
    ``address``); if the audit row cannot be written, DatabaseUnavailable."""
    params = {
        "name": clean_name(raw_name),
        "viewer_id": viewer.user_id,
        "sees_everyone": viewer.is_healthpro,
        "viewer_is_caregiver": viewer.status is Role.CAREGIVER,
        "address": normalize_address(address),
    }
    async with audit_or_refuse():
        row = await (await db.execute(_READ_RECORD_AUDITED, params)).fetchone()
    if row is None or not row.allowed:
        raise NotFound("No such user, or none you may see")
    return UserRecord(
        user_id=row.user_id,
        name=row.name,
        status=Role(row.status),
        age=row.age,
        mmse=row.mmse,
        caregiver_id=row.caregiver_id,
        specialty=row.specialty,
    )


async def create_user(
    pool: AsyncConnectionPool,
    actor: Identity | None,
    raw_name: str,
    new_user: NewUser,
    address: str | None = None,
) -> UserRecord:
    """Add a user and its role row in one transaction (409 if the name exists in any
    case), audited in that transaction (create_user, by ``actor`` from ``address``).
    No connection is held while the password is hashed."""
    name = clean_name(raw_name)
    check_fields_fit_role(new_user)
    if not can_create(actor, new_user.status):
        raise Forbidden("Only a logged-in health professional may create a health professional")
    caregiver_id = (
        normalize_user_id(new_user.caregiver_id) if new_user.caregiver_id is not None else None
    )
    async with pool.connection() as db:
        if await _name_exists(db, name):
            raise NameTaken()
        if caregiver_id is not None and not await _caregiver_exists(db, caregiver_id):
            raise InvalidInput("caregiver_id does not name an existing caregiver")
    password_hash = await hash_password_off_loop(new_user.password)

    record = UserRecord(
        user_id=uuid.uuid4().hex,
        name=name,
        status=new_user.status,
        age=new_user.age,
        mmse=new_user.mmse,
        caregiver_id=caregiver_id,
        specialty=new_user.specialty.value if new_user.specialty else None,
    )
    try:
        # The user and its role row in one transaction (the role rule is checked at commit).
        async with pool.connection() as db, db.transaction():
            await _insert(db, record, password_hash, actor.user_id if actor else None)
            await record_event(
                db,
                actor_id=actor.user_id if actor else None,
                subject_id=record.user_id,
                action=AuditAction.CREATE_USER,
                address=address,
            )
    except pg_errors.IntegrityError as error:
        raise _integrity_error_to_domain(error) from None
    return record


def _integrity_error_to_domain(error: pg_errors.IntegrityError) -> Exception:
    if isinstance(error, pg_errors.UniqueViolation) and error.diag.constraint_name == _NAME_INDEX:
        return NameTaken()
    if isinstance(error, pg_errors.ForeignKeyViolation):
        # The caregiver was removed between our check and the insert.
        return InvalidInput("caregiver_id does not name an existing caregiver")
    return error


async def _name_exists(db: AsyncConnection, name: str) -> bool:
    cursor = await db.execute(
        "SELECT 1 FROM users WHERE name_key(name) = name_key(%(name)s)", {"name": name}
    )
    return await cursor.fetchone() is not None


async def _caregiver_exists(db: AsyncConnection, user_id: str) -> bool:
    cursor = await db.execute(
        "SELECT 1 FROM caregivers WHERE user_id = %(user_id)s", {"user_id": user_id}
    )
    return await cursor.fetchone() is not None


# A new patient's score is their first assessment, dated today (the API server's date,
# as in docmemo.assessments): patients.mmse is always their latest assessment. The
# recorder is NULL when anonymous, or if their account has just been deleted.
_FIRST_ASSESSMENT = """
    INSERT INTO assessments (patient_id, mmse, assessed_at, recorded_by)
    VALUES (%(user_id)s, %(mmse)s, %(today)s,
            (SELECT user_id FROM users WHERE user_id = %(recorded_by)s))
"""


async def _insert(
    db: AsyncConnection, record: UserRecord, password_hash: str, recorded_by: str | None
) -> None:
    params = {
        "user_id": record.user_id,
        "name": record.name,
        "status": record.status.value,
        "password": password_hash,
        "age": record.age,
        "mmse": record.mmse,
        "caregiver_id": record.caregiver_id,
        "specialty": record.specialty,
    }
    await db.execute(
        "INSERT INTO users (user_id, name, password, status) "
        "VALUES (%(user_id)s, %(name)s, %(password)s, %(status)s)",
        params,
    )
    role_insert = {
        Role.PATIENT: "INSERT INTO patients (user_id, name, age, mmse, caregiver_id) "
        "VALUES (%(user_id)s, %(name)s, %(age)s, %(mmse)s, %(caregiver_id)s)",
        Role.CAREGIVER: "INSERT INTO caregivers (user_id, name) VALUES (%(user_id)s, %(name)s)",
        Role.HEALTHPRO: "INSERT INTO healthpros (user_id, name, specialty) "
        "VALUES (%(user_id)s, %(name)s, %(specialty)s)",
    }[record.status]
    await db.execute(role_insert, params)
    if record.status is Role.PATIENT:
        await db.execute(
            _FIRST_ASSESSMENT, {**params, "today": date.today(), "recorded_by": recorded_by}
        )
