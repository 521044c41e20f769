"""Creating users with their role rules, and reading one record; all their SQL is here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from psycopg import AsyncConnection
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from docmemo.audit.service import audit_or_refuse, normalize_address, record_event
from docmemo.auth.passwords import hash_password_off_loop
from docmemo.auth.schemas import Identity
from docmemo.auth.service import LIVE_SESSIONS, could_be_a_session, live_session_parameters
from docmemo.config import Settings
from docmemo.db.models import MAX_AGE, MAX_NAME_LENGTH, AuditAction, Role
from docmemo.errors import Forbidden, InvalidInput, NameTaken, NotAuthenticated, NotFound
from docmemo.users.names import clean_name, name_key
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
        raise InvalidInput(
            f"{', '.join(extra)} does not apply to a {new_user.status.value}", field=extra[0]
        )
    if missing := sorted(required - given):
        raise InvalidInput(
            f"a {new_user.status.value} needs {', '.join(missing)}", field=missing[0]
        )
    if new_user.mmse is not None and not 0 <= new_user.mmse <= 30:
        raise InvalidInput("mmse must be between 0 and 30", field="mmse")
    if new_user.age is not None and not 0 <= new_user.age <= MAX_AGE:
        raise InvalidInput(f"age must be between 0 and {MAX_AGE}", field="age")


def normalize_user_id(raw: str) -> str:
    """Accept a UUID as 32 hex characters (or with dashes); return 32 lowercase hex."""
    try:
        return uuid.UUID(raw.strip()).hex
    except ValueError:
        raise InvalidInput(
            "caregiver_id must be a user id (32 hexadecimal characters)", field="caregiver_id"
        ) from None


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


# find_record and the audit rows of patients' records for many reads, each by whoever
# holds its session token, in ONE statement, hence one (autocommit) transaction and
# no extra round trip: the sessions are found (and their use recorded) by
# auth.service.LIVE_SESSIONS, and no record is answered unless every audit row of
# the batch is written. Each distinct session token is sent once (``token_hashes``)
# and each read names its own by number (``sessions``): the readers are found once
# per session (MATERIALIZED: never re-planned into a probe per read), however many
# reads share it. Each read keeps its position; one whose token is no live session
# has no ``asked`` row, hence no record and no audit row. Its record is looked up in
# the LATERAL subquery, whose LIMIT (the name key is unique: it changes nothing)
# keeps PostgreSQL from turning the look-ups into a join over all users (a
# name_key(), an NFKC normalization, for each): one probe of a B-tree on
# name_key(name) per read (uq_users_name_key or ix_users_name_key_prefix, the same
# keys), whatever the batch's size; a NULL name (one nobody can have) finds nothing.
# ``allowed`` is can_read in SQL, so that the row says whether the record was shown
# (tests/audit compares the two on every pair of roles). One audit row per read of a
# patient, duplicates included, in the batch's order (RecordRead says why). The SQL
# is composed of constants only: no input is formatted in.
_READ_RECORDS_AUDITED = f"""
    WITH {LIVE_SESSIONS}, readers AS MATERIALIZED (
        SELECT asked_session.number, u.user_id, u.status
        FROM unnest(%(token_hashes)s::bytea[]) WITH ORDINALITY
             AS asked_session(token_hash, number)
        JOIN live ON live.token_hash = asked_session.token_hash
        JOIN users u ON u.user_id = live.user_id
    ), asked AS (
        SELECT r.position, r.name, r.address, readers.user_id AS viewer_id,
               readers.status = 'healthpro' AS sees_everyone,
               readers.status = 'caregiver' AS viewer_is_caregiver
        FROM unnest(%(sessions)s::int[], %(names)s::text[], %(addresses)s::inet[])
             WITH ORDINALITY AS r(session, name, address, position)
        JOIN readers ON readers.number = r.session
    ), record AS (
        SELECT a.position, a.viewer_id, a.address,
               r.user_id, r.name, r.status, p.age, p.mmse, p.caregiver_id, h.specialty,
               (a.sees_everyone OR r.user_id = a.viewer_id
                OR (a.viewer_is_caregiver AND p.caregiver_id = a.viewer_id))
               IS TRUE AS allowed
        FROM asked a
        CROSS JOIN LATERAL (
            SELECT u.user_id, u.name, u.status FROM users u
            WHERE name_key(u.name) = name_key(a.name)
            LIMIT 1
        ) r
        LEFT JOIN patients p ON p.user_id = r.user_id
        LEFT JOIN healthpros h ON h.user_id = r.user_id
    ), audited AS (
        INSERT INTO audit_events (actor_id, subject_id, action, outcome, address)
        SELECT viewer_id, user_id, 'read_record',
               CASE WHEN allowed THEN 'allowed' ELSE 'denied' END, address
        FROM record WHERE status = 'patient'
        ORDER BY position
    )
    SELECT a.position, r.user_id, r.name, r.status, r.age, r.mmse, r.caregiver_id,
           r.specialty, r.allowed IS TRUE AS allowed
    FROM asked a
    LEFT JOIN record r USING (position)
"""  # noqa: S608 - composed of constants, no input


@dataclass(frozen=True, slots=True)
class RecordRead:
    """One request's read of a record by whoever holds its session token, its input
    checked and ready for read_records (hashable, so that a coalescer can find
    identical ones).

    Audit: read_records writes one audit row per item, duplicates included. Two
    identical reads (same session, name and address) are two requests, each of which
    showed the record: the trail counts disclosures, and a count that shrank when
    requests happened to arrive together would depend on load, not on what was read.
    So a caller that answers several requests with one statement passes one item
    per request, identical or not (deduplicating would save one index probe per
    duplicate, while its audit row is owed anyway)."""

    token: str | None
    name: str | None  # clean_name()'d; None for a name nobody can have (``refusal``)
    address: str | None  # normalize_address()'d
    refusal: InvalidInput | None = None  # why no one can have the name asked


@dataclass(frozen=True, slots=True)
class RecordAnswer:
    """read_records' answer to one read."""

    signed_in: bool  # the token is a live session's
    record: UserRecord | None  # None: no one has the name, or the reader may not see it


def record_read(token: str | None, raw_name: str, address: str | None = None) -> RecordRead:
    """The read of the record of ``raw_name`` by whoever holds ``token``, from
    ``address``. Every check of one request's input is made here, before it joins a
    batch: a name nobody can have is kept as its refusal (422), which shown_record
    raises once the session is known to be live (a request without one gets 401
    first, as everywhere), and is sent as NULL, which finds nothing."""
    try:
        name, refusal = clean_name(raw_name), None
    except InvalidInput as error:
        name, refusal = None, error
    return RecordRead(token=token, name=name, address=normalize_address(address), refusal=refusal)


def read_records_statement(
    reads: Sequence[RecordRead], settings: Settings
) -> tuple[str, dict[str, object], list[int]]:
    """The SQL of read_records, its parameters, and the positions of the reads it sends
    (those whose token could be a session's; apart so that the tests can ask
    PostgreSQL for its plan)."""
    session_numbers: dict[str, int] = {}  # each distinct token: its number, from 1
    positions: list[int] = []
    for position, read in enumerate(reads):
        if could_be_a_session(read.token):
            session_numbers.setdefault(read.token, len(session_numbers) + 1)
            positions.append(position)
    sent = [reads[position] for position in positions]
    return (
        _READ_RECORDS_AUDITED,
        {
            **live_session_parameters(session_numbers, settings),
            "sessions": [session_numbers[read.token] for read in sent],
            "names": [read.name for read in sent],
            "addresses": [read.address for read in sent],
        },
        positions,
    )


async def read_records(
    db: AsyncConnection, reads: Sequence[RecordRead], settings: Settings
) -> list[RecordAnswer]:
    """Many reads of records, each by whoever holds its session token, in ONE
    statement: for each read, in order, whether its token is a live session's (whose
    use is recorded, as by auth.service.identities_for_tokens) and the record, or None
    when no one has the name or the session's user may not read it (can_read; the two
    are answered alike). Every read of a patient's record by a live session is
    audited (read_record, allowed or denied, by its user from its address), one row
    per item; if the audit rows cannot be written, DatabaseUnavailable and nothing is
    answered."""
    answers = [NOT_SIGNED_IN] * len(reads)
    sql, params, positions = read_records_statement(reads, settings)
    if not positions:
        return answers
    async with audit_or_refuse():
        rows = await (await db.execute(sql, params)).fetchall()
    for row in rows:
        record = None
        if row.allowed:
            record = UserRecord(
                user_id=row.user_id,
                name=row.name,
                status=Role(row.status),
                age=row.age,
                mmse=row.mmse,
                caregiver_id=row.caregiver_id,
                specialty=row.specialty,
            )
        answers[positions[row.position - 1]] = RecordAnswer(signed_in=True, record=record)
    return answers


NOT_SIGNED_IN = RecordAnswer(signed_in=False, record=None)


def shown_record(read: RecordRead, answer: RecordAnswer) -> UserRecord:
    """What the request of ``read`` is answered: NotAuthenticated (401) without a live
    session; its name's refusal (422); NotFound (404), the same for a name nobody has
    and a record the reader may not see, so that nothing can be learnt from it; or
    the record."""
    if not answer.signed_in:
        raise NotAuthenticated()
    if read.refusal is not None:
        raise read.refusal
    if answer.record is None:
        raise NotFound("No such user, or none you may see")
    return answer.record


async def read_record(
    db: AsyncConnection,
    token: str | None,
    raw_name: str,
    settings: Settings,
    address: str | None = None,
) -> UserRecord:
    """One request's read (read_records, then shown_record)."""
    read = record_read(token, raw_name, address)
    (answer,) = await read_records(db, [read], settings)
    return shown_record(read, answer)


async def create_user(
    pool: AsyncConnectionPool,
    actor: Identity | None,
    raw_name: str,
    new_user: NewUser,
    address: str | None = None,
    *,
    caregiver_name: str | None = None,
) -> UserRecord:
    """Add a user and its role row in one transaction (409 if the name exists in any
    case), audited in that transaction (create_user, by ``actor`` from ``address``).
    No connection is held while the password is hashed.

    A patient's caregiver is ``new_user.caregiver_id`` (the API) or ``caregiver_name``
    (the web app's form: people know names, not ids), looked up ignoring case. Each
    InvalidInput names the parameter at fault (``field``) for a form to show it there."""
    try:
        name = clean_name(raw_name)
    except InvalidInput as error:
        raise InvalidInput(error.detail, field="name") from None
    check_fields_fit_role(new_user)
    _check_caregiver_name_fits(new_user, caregiver_name)
    if not can_create(actor, new_user.status):
        raise Forbidden("Only a logged-in health professional may create a health professional")
    caregiver_id = (
        normalize_user_id(new_user.caregiver_id) if new_user.caregiver_id is not None else None
    )
    async with pool.connection() as db:
        if await _name_exists(db, name):
            raise NameTaken()
        if caregiver_name is not None:
            caregiver_id = await _caregiver_id_by_name(db, caregiver_name)
        elif caregiver_id is not None and not await _caregiver_exists(db, caregiver_id):
            raise InvalidInput(
                "caregiver_id does not name an existing caregiver", field="caregiver_id"
            )
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
        return InvalidInput(
            "caregiver_id does not name an existing caregiver", field="caregiver_id"
        )
    return error


async def _name_exists(db: AsyncConnection, name: str) -> bool:
    cursor = await db.execute(
        "SELECT 1 FROM users WHERE name_key(name) = name_key(%(name)s)", {"name": name}
    )
    return await cursor.fetchone() is not None


def _check_caregiver_name_fits(new_user: NewUser, caregiver_name: str | None) -> None:
    if caregiver_name is None:
        return
    if new_user.status is not Role.PATIENT:
        raise InvalidInput(
            f"caregiver_name does not apply to a {new_user.status.value}", field="caregiver_name"
        )
    if new_user.caregiver_id is not None:
        raise InvalidInput("give caregiver_id or caregiver_name, not both", field="caregiver_name")


_NO_CAREGIVER_BY_NAME = "No caregiver by that name"


async def _caregiver_id_by_name(db: AsyncConnection, raw_name: str) -> str:
    """The id of the caregiver of this name (any case), or InvalidInput: the same
    message for a name nobody has and for someone who is not a caregiver."""
    try:
        name = clean_name(raw_name)
    except InvalidInput:
        raise InvalidInput(_NO_CAREGIVER_BY_NAME, field="caregiver_name") from None
    cursor = await db.execute(
        "SELECT user_id FROM users "
        "WHERE name_key(name) = name_key(%(name)s) AND status = 'caregiver'",
        {"name": name},
    )
    row = await cursor.fetchone()
    if row is None:
        raise InvalidInput(_NO_CAREGIVER_BY_NAME, field="caregiver_name")
    return row.user_id


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


# Searching names (the web app's start page). What a search shows is a directory line
# (name, role, specialty, a patient's age), never a score: health data stays on the
# patient's page, whose every read is audited. Searches are not audited: they show
# only people whose whole record the viewer may read anyway (can_read, in SQL).

SEARCH_ANYWHERE_FROM = 3
"""Letters (or digits) in a row from which a search matches anywhere in a name: a
trigram index can only look for runs of three. Shorter, it matches names' beginnings."""
SEARCH_MAX_LIMIT = 100
# A search anywhere in names reads at most this many matching rows (the index gives
# them in the table's order, and each costs a name_key(), 2–8 µs). Up to it,
# every match is ranked and counted; beyond it the page says that more people match.
_SEARCH_CANDIDATES = 500
# Where a word of a name starts: a match there ranks before one inside a word.
_WORD_SEPARATORS = (" ", "-", "'", "’")


@dataclass(frozen=True)
class PersonFound:
    name: str
    status: Role
    age: int | None = None
    specialty: str | None = None


@dataclass(frozen=True)
class SearchResults:
    query: str
    """What was searched for, without surrounding spaces."""
    people: list[PersonFound]
    found: int | None
    """How many people match in all; None when more than ``people`` do and they were
    not all counted (a common fragment among a million names)."""
    anywhere: bool
    """Whether names were matched anywhere, or only at their beginning (short query)."""

    @property
    def more(self) -> bool:
        return self.found is None or self.found > len(self.people)


# Ranked by where the match is: the name's beginning, a later word's beginning (a
# surname), inside a word; then alphabetically by key in code-point order (~<~), the
# order of ix_users_name_key_prefix ("é" comes after "z"). Roles are joined for the
# page's rows only. ``keyed`` is MATERIALIZED so that each candidate's name_key() is
# computed once, not again in each place ``key`` is used.
_SEARCH_RANKED = """
    , keyed AS MATERIALIZED (
        SELECT *, name_key(name) AS key FROM candidates
    ), ranked AS (
        SELECT user_id, name, status, key,
               CASE WHEN key LIKE %(starts)s THEN 0
                    WHEN key LIKE ANY (%(word_starts)s) THEN 1
                    ELSE 2 END AS rank,
               count(*) OVER () AS found
        FROM keyed
        ORDER BY rank, key USING ~<~
        LIMIT %(limit)s
    )
    SELECT r.name, r.status, p.age, h.specialty, r.found, summary.complete
    FROM ranked r
    CROSS JOIN summary
    LEFT JOIN patients p ON p.user_id = r.user_id
    LEFT JOIN healthpros h ON h.user_id = r.user_id
    ORDER BY r.rank, r.key USING ~<~
"""

# Health professionals see everyone: a million names. Two bounded reads:
# - ``starting``: names that begin with the query, in order, from the B-tree
#   ix_users_name_key_prefix (a range of it, then LIMIT): the cost of a page of rows
#   however many names match;
# - ``inside``: only if fewer than a page begin with it (otherwise the page is full of
#   better matches), names containing it, from the trigram index, at most
#   _SEARCH_CANDIDATES rows. MATERIALIZED so that the planner costs the whole match
#   (a bitmap scan of the index) rather than a sequential scan stopped by the LIMIT,
#   which is cheap only if matches are dense; it is still read lazily, up to the LIMIT.
#   The show_trgm() test guards the index: a pattern without a trigram would make it
#   (or a sequential scan) read every row; the Python rule (SEARCH_ANYWHERE_FROM)
#   already keeps such queries out, this keeps out what pg_trgm sees differently.
_EVERYONE_CANDIDATES = """
    WITH starting AS (
        SELECT user_id, name, status
        FROM users
        WHERE name_key(name) LIKE %(starts)s
        ORDER BY name_key(name) USING ~<~
        LIMIT %(limit)s + 1
    ), matching AS MATERIALIZED (
        SELECT user_id, name, status
        FROM users
        WHERE %(anywhere)s
          AND (SELECT count(*) FROM starting) <= %(limit)s
          AND (SELECT bool_or(strpos(trigram, ' ') = 0) FROM unnest(show_trgm(%(key)s)) AS trigram)
          AND name_key(name) LIKE %(contains)s
    ), inside AS (
        SELECT * FROM matching LIMIT %(candidates)s
    ), candidates AS (
        SELECT * FROM starting UNION SELECT * FROM inside
    ), summary AS (
        SELECT (SELECT count(*) FROM starting) <= %(limit)s
               AND (SELECT count(*) FROM inside) < %(candidates)s AS complete
    )
"""
_SEARCH_EVERYONE = _EVERYONE_CANDIDATES + _SEARCH_RANKED

# Everyone else sees a handful of people (can_read): themselves and, for a caregiver,
# their patients, found by primary key and ix_patients_caregiver_id, then filtered.
_OWN_CANDIDATES = """
    WITH visible AS (
        SELECT user_id, name, status FROM users WHERE user_id = %(viewer_id)s
        UNION
        SELECT u.user_id, u.name, u.status
        FROM patients p JOIN users u ON u.user_id = p.user_id
        WHERE %(viewer_is_caregiver)s AND p.caregiver_id = %(viewer_id)s
    ), candidates AS (
        SELECT * FROM visible WHERE name_key(name) LIKE %(pattern)s
    ), summary AS (
        SELECT true AS complete
    )
"""
_SEARCH_OWN = _OWN_CANDIDATES + _SEARCH_RANKED


def _escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (backslash is LIKE's escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _letters_in_a_row(text: str) -> int:
    longest = run = 0
    for char in text:
        # pg_trgm's word characters: letters and digits (iswalnum in C.UTF-8).
        run = run + 1 if char.isalpha() or char.isdecimal() else 0
        longest = max(longest, run)
    return longest


def search_statement(
    viewer: Identity, key: str, anywhere: bool, limit: int
) -> tuple[str, dict[str, object]]:
    """The SQL of search_people and its parameters, for a name_key()-folded query
    (apart so that the tests can ask PostgreSQL for its plan)."""
    literal = _escape_like(key)
    params: dict[str, object] = {
        "key": key,
        "anywhere": anywhere,
        "starts": f"{literal}%",
        "contains": f"%{literal}%",
        "pattern": f"%{literal}%" if anywhere else f"{literal}%",
        "word_starts": [f"%{separator}{literal}%" for separator in _WORD_SEPARATORS],
        "limit": limit,
        "candidates": _SEARCH_CANDIDATES,
        "viewer_id": viewer.user_id,
        "viewer_is_caregiver": viewer.status is Role.CAREGIVER,
    }
    return (_SEARCH_EVERYONE if viewer.is_healthpro else _SEARCH_OWN), params


async def search_people(
    db: AsyncConnection, viewer: Identity, query: str, limit: int = 20
) -> SearchResults:
    """People whose name contains ``query`` (ignoring case and accents' forms, like
    every look-up by name: name_key), among those ``viewer`` may read (can_read);
    at most ``limit``, best first. A query without SEARCH_ANYWHERE_FROM letters in a
    row matches names' beginnings only."""
    if not 1 <= limit <= SEARCH_MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {SEARCH_MAX_LIMIT}", field="limit")
    text = query.strip()
    key = name_key(text)
    anywhere = _letters_in_a_row(key) >= SEARCH_ANYWHERE_FROM
    # Nothing to look for, or nothing a name can hold (a control character, a NUL that
    # PostgreSQL text cannot even carry, more characters than a name has): no one.
    if not key or not key.isprintable() or len(text) > MAX_NAME_LENGTH:
        return SearchResults(query=text, people=[], found=0, anywhere=anywhere)
    sql, params = search_statement(viewer, key, anywhere, limit)
    # A health professional's search is never a prepared statement: its plan depends on
    # the pattern's value (LIKE 'abc%' becomes a range of the B-tree only when its text
    # is known at planning). The others' plan does not (psycopg's default: prepared
    # from the fifth time on a connection, a millisecond of planning saved).
    prepare = None if not viewer.is_healthpro else False
    rows = await (await db.execute(sql, params, prepare=prepare)).fetchall()
    people = [
        PersonFound(name=row.name, status=Role(row.status), age=row.age, specialty=row.specialty)
        for row in rows
    ]
    found = (rows[0].found if rows[0].complete else None) if rows else 0
    return SearchResults(query=text, people=people, found=found, anywhere=anywhere)
