"""Authentication, sessions, password changes and login throttling; all of their SQL.

Sessions: the cookie holds a random 256-bit token; the database stores only its
HMAC-SHA256 under the server secret, so a leaked sessions table opens nothing. A
session ends ``session_lifetime_s`` after its login (absolute expiry) or
``session_idle_s`` after its last use (idle expiry), both checked by the database
in the statement that finds the session (one statement finds the sessions of many
requests: identities_for_tokens). That statement also records the use, but only
when the recorded one is older than ``SESSION_TOUCH_INTERVAL_S``: most reads write
nothing, and an idle session ends between ``idle - 60 s`` and ``idle`` after its
last request. Recording a use never waits for a lock: a session row locked at that
moment is skipped, its locker being another request recording a use (it writes the
same time) or a logout or password change ending the session.

A login that presents a session ends it (rotation). A password change ends every
session of the user; a session is only ever created while the password hash that
was verified is still the user's (read under a share lock), so a login racing a
password change is either refused or ended with the others.

Throttling, in PostgreSQL so that every API process shares it, two limits:

- per account name (its case-insensitive key, whether or not the account exists, so
  the answer tells nothing about existence): after ``login_max_failures`` failures
  within ``FAILURE_WINDOW`` the account is refused with 429 for
  ``base · 2^(extra failures)`` seconds, capped at ``login_lockout_max_s``, so that
  nobody can lock another user out for longer than the cap at a time. Other
  accounts are never affected, and a success clears the count.
- per client address (an IPv4 address, or the /64 network of an IPv6 one, which one
  household or host usually holds whole): ``login_address_max_failures`` failures
  per fixed window of ``login_address_window_s``, then 429 until the window ends.
  A success gives its attempt back but does not clear the count: otherwise one
  valid account would let an attacker reset it.

Each attempt is counted before its password is checked, under a row lock, so that
concurrent guesses get no more tries than serial ones. Each admitted attempt also
deletes up to ``PURGE_BATCH`` stale rows of each throttle table (oldest first,
skipping rows in use): an attempt adds at most one row to each, so rows of names
nobody has no longer pile up, and no timer is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeGuard

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from docmemo.audit.service import record_event
from docmemo.auth.passwords import dummy_hash, hash_password_off_loop, verify_password_off_loop
from docmemo.auth.schemas import Identity
from docmemo.config import Settings
from docmemo.db.models import AuditAction
from docmemo.errors import (
    Forbidden,
    InvalidCredentials,
    NotAuthenticated,
    TooManyAttempts,
    TooManyAttemptsFromAddress,
)
from docmemo.users.names import name_key

# Session tokens are 43 characters (32 random bytes, URL-safe base64).
MAX_TOKEN_LENGTH = 256
# Failures older than this no longer count towards an account's lock-out.
FAILURE_WINDOW = timedelta(minutes=15)
# A session's last use is written when the recorded one is at least this old, so
# that reading with a session is not a write each time; idle expiry is exact to it.
SESSION_TOUCH_INTERVAL_S = 60
# Stale throttle rows deleted per table by each admitted login attempt.
PURGE_BATCH = 20
# The throttling bucket of requests whose client address is unknown (a Unix socket
# without a proxy that passes the address on): they share one.
UNKNOWN_ADDRESS = "::"
IPV6_NETWORK_PREFIX = 64
WRONG_PASSWORD = "Wrong password"  # noqa: S105 - a message, not a secret


def token_digest(token: str, secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).digest()


def throttle_key(name: str) -> str:
    return name_key(name)


def address_key(host: str | None) -> str:
    """The throttling bucket of a client address: an IPv4 address as it is, an IPv6
    one as its /64 network (an attacker usually holds the whole /64), IPv4-mapped
    IPv6 as the IPv4 address; anything else (no address, a test client's name) as
    the shared UNKNOWN_ADDRESS bucket."""
    try:
        address = ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return UNKNOWN_ADDRESS
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_NETWORK_PREFIX}", strict=False))
    return str(address)


_FIND_LOGIN = """
    SELECT u.user_id, u.name, u.status, h.specialty, u.password
    FROM users u LEFT JOIN healthpros h ON h.user_id = u.user_id
    WHERE name_key(u.name) = name_key(%(name)s)
"""

# The live sessions among the digests ``%(token_hashes)s`` and the refresh of their
# last use: three CTEs for the WITH list of a statement that answers many requests
# (identities_for_tokens here; users.service.read_records, whose viewers are found by
# their sessions in the same statement as the records). ``live`` holds each live
# session once (found through the primary key, ``= ANY``, however many tokens are
# asked, duplicates included), neither expired nor idle. The refresh of the last use
# of those whose recorded one is a minute old or more runs whether or not it is read
# (a data-modifying CTE). It locks its rows with SKIP LOCKED and checks their age
# again on the version it locked: a batch updates several rows in no set order, and
# two batches (two API processes) waiting on each other's rows would deadlock, so a
# read never waits for a session's lock. A row skipped is being written at this
# moment by another refresh (which records the same use) or by the logout or
# password change that ends the session. Parameters: live_session_parameters().
LIVE_SESSIONS = """
    live AS (
        SELECT s.token_hash, s.user_id, s.last_seen_at
        FROM sessions s
        WHERE s.token_hash = ANY(%(token_hashes)s::bytea[])
          AND s.expires_at > now()
          AND s.last_seen_at > now() - make_interval(secs => %(idle_s)s)
    ), stale AS (
        SELECT s.token_hash
        FROM sessions s
        WHERE s.token_hash IN (
                SELECT token_hash FROM live
                WHERE last_seen_at <= now() - make_interval(secs => %(touch_s)s))
          AND s.last_seen_at <= now() - make_interval(secs => %(touch_s)s)
        FOR UPDATE OF s SKIP LOCKED
    ), touched AS (
        UPDATE sessions s SET last_seen_at = now()
        FROM stale
        WHERE s.token_hash = stale.token_hash
    )
"""

# Each asked digest with its position in the batch, so that duplicates and misses
# keep their place. (The SQL is composed of constants only: no input is formatted in.)
_SESSION_IDENTITIES = f"""
    WITH asked AS (
        SELECT token_hash, position
        FROM unnest(%(token_hashes)s::bytea[]) WITH ORDINALITY AS asked(token_hash, position)
    ), {LIVE_SESSIONS}
    SELECT asked.position, u.user_id, u.name, u.status, h.specialty
    FROM asked
    JOIN live ON live.token_hash = asked.token_hash
    JOIN users u ON u.user_id = live.user_id
    LEFT JOIN healthpros h ON h.user_id = u.user_id
"""  # noqa: S608 - composed of constants, no input


def could_be_a_session(token: str | None) -> TypeGuard[str]:
    """False for a missing token and for one longer than any of ours: no session, known
    without asking. No token can fail a statement: the others are sent as their
    digests (live_session_parameters), 32 bytes whatever the token."""
    return token is not None and len(token) <= MAX_TOKEN_LENGTH


def live_session_parameters(tokens: Iterable[str], settings: Settings) -> dict[str, object]:
    """The parameters of LIVE_SESSIONS for these tokens (could_be_a_session's)."""
    return {
        "token_hashes": [token_digest(token, settings.secret_key) for token in tokens],
        "idle_s": settings.session_idle_s,
        "touch_s": SESSION_TOUCH_INTERVAL_S,
    }


# A session is created only if the password hash that was verified is still the
# user's: FOR SHARE waits for a password change in progress and then sees its result.
_INSERT_SESSION = """
    INSERT INTO sessions (token_hash, user_id, expires_at)
    SELECT %(token_hash)s, u.user_id, now() + make_interval(secs => %(lifetime_s)s)
    FROM users u
    WHERE u.user_id = %(user_id)s AND u.password = %(password_hash)s
    FOR SHARE
    RETURNING expires_at
"""

# One atomic statement per attempt: concurrent attempts on one account queue on its
# row. While the account is locked the row is left as it is (``refused``: the
# attempt is not counted and gets 429); otherwise the attempt is counted as a
# failure, the count restarting when the last failure is older than the window.
_COUNT_ACCOUNT_ATTEMPT = """
    INSERT INTO login_throttle AS t (account_key, failures, last_failure_at, locked_until)
    VALUES (%(key)s, 1, now(), CASE WHEN %(max_failures)s <= 1
                                 THEN now() + make_interval(secs => %(base_s)s) END)
    ON CONFLICT (account_key) DO UPDATE SET
        failures = CASE
            WHEN t.locked_until > now() THEN t.failures
            WHEN t.last_failure_at < now() - make_interval(secs => %(window_s)s) THEN 1
            ELSE t.failures + 1 END,
        last_failure_at = CASE WHEN t.locked_until > now() THEN t.last_failure_at ELSE now() END,
        locked_until = CASE
            WHEN t.locked_until > now() THEN t.locked_until
            WHEN t.last_failure_at < now() - make_interval(secs => %(window_s)s) THEN
                CASE WHEN %(max_failures)s <= 1 THEN now() + make_interval(secs => %(base_s)s) END
            WHEN t.failures + 1 >= %(max_failures)s THEN now() + make_interval(secs => least(
                %(base_s)s * power(2, least(t.failures + 1 - %(max_failures)s, 30)), %(cap_s)s))
        END
    RETURNING last_failure_at <> now() AS refused,
              ceil(extract(epoch FROM locked_until - now()))::int AS retry_after_s
"""

# A fixed window per address: the first attempt after a window has ended opens the
# next one. Attempts beyond the limit are refused; the count stops one past the
# limit (refused attempts do not extend the window).
_COUNT_ADDRESS_ATTEMPT = """
    INSERT INTO login_address_throttle AS t (address, failures, window_started_at)
    VALUES (%(address)s::inet, 1, now())
    ON CONFLICT (address) DO UPDATE SET
        failures = CASE
            WHEN t.window_started_at <= now() - make_interval(secs => %(window_s)s) THEN 1
            ELSE least(t.failures + 1, %(max_failures)s + 1) END,
        window_started_at = CASE
            WHEN t.window_started_at <= now() - make_interval(secs => %(window_s)s) THEN now()
            ELSE t.window_started_at END
    RETURNING failures > %(max_failures)s AS refused,
              ceil(extract(epoch FROM window_started_at
                           + make_interval(secs => %(window_s)s) - now()))::int AS retry_after_s
"""

_GIVE_ADDRESS_ATTEMPT_BACK = """
    UPDATE login_address_throttle SET failures = failures - 1
    WHERE address = %(address)s::inet AND failures > 0
"""

# Rows that no longer change any answer: an account row whose last failure is out of
# the window and whose lock has ended, an address row whose window has ended. The
# next attempt would start each afresh anyway.
_PURGE_STALE_THROTTLE_ROWS = """
    WITH accounts AS (
        DELETE FROM login_throttle WHERE account_key IN (
            SELECT account_key FROM login_throttle
            WHERE last_failure_at < now() - make_interval(secs => %(account_window_s)s)
              AND (locked_until IS NULL OR locked_until <= now())
            ORDER BY last_failure_at LIMIT %(batch)s
            FOR UPDATE SKIP LOCKED)
        RETURNING 1
    ), addresses AS (
        DELETE FROM login_address_throttle WHERE address IN (
            SELECT address FROM login_address_throttle
            WHERE window_started_at < now() - make_interval(secs => %(address_window_s)s)
            ORDER BY window_started_at LIMIT %(batch)s
            FOR UPDATE SKIP LOCKED)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM accounts) AS accounts,
           (SELECT count(*) FROM addresses) AS addresses
"""


async def admit_attempt(
    db: AsyncConnection, name: str | None, address: str | None, settings: Settings
) -> None:
    """Refuse (429) an attempt from an address over its limit, then one on a locked
    account; otherwise count it as a failure of both *before* the password is checked
    (``forget_failures`` undoes that on success). ``name`` None: a name no account can
    have, throttled by address only. Then purge a few stale throttle rows."""
    cursor = await db.execute(
        _COUNT_ADDRESS_ATTEMPT,
        {
            "address": address_key(address),
            "max_failures": settings.login_address_max_failures,
            "window_s": settings.login_address_window_s,
        },
    )
    attempt = await cursor.fetchone()
    if attempt.refused:
        raise TooManyAttemptsFromAddress(retry_after_s=attempt.retry_after_s)
    if name is not None:
        cursor = await db.execute(
            _COUNT_ACCOUNT_ATTEMPT,
            {
                "key": throttle_key(name),
                "max_failures": settings.login_max_failures,
                "base_s": settings.login_lockout_base_s,
                "cap_s": settings.login_lockout_max_s,
                "window_s": FAILURE_WINDOW.total_seconds(),
            },
        )
        attempt = await cursor.fetchone()
        if attempt.refused:
            raise TooManyAttempts(retry_after_s=attempt.retry_after_s)
    await purge_stale_throttle_rows(db, settings)


async def forget_failures(db: AsyncConnection, name: str, address: str | None) -> None:
    """After a success: clear the account's count and give the address its attempt back."""
    await db.execute(
        "DELETE FROM login_throttle WHERE account_key = %(key)s", {"key": throttle_key(name)}
    )
    await db.execute(_GIVE_ADDRESS_ATTEMPT_BACK, {"address": address_key(address)})


async def purge_stale_throttle_rows(
    db: AsyncConnection, settings: Settings, batch: int = PURGE_BATCH
) -> tuple[int, int]:
    """Delete up to ``batch`` stale rows of each throttle table; returns how many
    (account rows, address rows)."""
    cursor = await db.execute(
        _PURGE_STALE_THROTTLE_ROWS,
        {
            "account_window_s": FAILURE_WINDOW.total_seconds(),
            "address_window_s": settings.login_address_window_s,
            "batch": batch,
        },
    )
    purged = await cursor.fetchone()
    return purged.accounts, purged.addresses


async def login(
    pool: AsyncConnectionPool,
    name: str,
    password: str,
    settings: Settings,
    previous_token: str | None = None,
    address: str | None = None,
) -> tuple[Identity, str, datetime]:
    """Check the name (any case) and password (exact); start a session.

    Returns who logged in, the new session token and its absolute expiry. Unknown
    names are verified against a dummy hash so that both failures take the same time
    and get the same answer. A token presented at login is ended: a login always
    rotates. ``address`` is the client's, for the per-address limit. The database is
    visited twice, before and after Argon2, and no connection is held while it runs:
    a burst of logins must not take the pool from other requests.
    """
    name = name.strip(" ")
    # No name can hold NUL (PostgreSQL text cannot): an unknown name, same answer.
    possible_name = name if "\x00" not in name else None
    row = None
    async with pool.connection() as db:
        await admit_attempt(db, possible_name, address, settings)
        if possible_name is not None:
            row = await (await db.execute(_FIND_LOGIN, {"name": name})).fetchone()
    password_hash = row.password if row is not None else dummy_hash()
    password_ok = await verify_password_off_loop(password_hash, password)
    if row is None or not password_ok:
        raise InvalidCredentials()
    identity = Identity(
        user_id=row.user_id, name=row.name, status=row.status, specialty=row.specialty
    )
    async with pool.connection() as db, db.transaction():
        await forget_failures(db, name, address)
        if previous_token:
            await end_session(db, previous_token, settings)
        session = await _insert_session(db, identity.user_id, row.password, settings)
        if session is None:
            # The password changed (or the account went) since it was read: this
            # password is no longer the account's. Rolled back, nothing kept.
            raise InvalidCredentials()
    token, expires_at = session
    return identity, token, expires_at


async def _insert_session(
    db: AsyncConnection, user_id: str, password_hash: str, settings: Settings
) -> tuple[str, datetime] | None:
    """A new session for this user, if ``password_hash`` is still their password;
    None otherwise. Also deletes the user's expired and idle sessions."""
    await db.execute(
        "DELETE FROM sessions WHERE user_id = %(user_id)s AND (expires_at <= now() "
        "OR last_seen_at <= now() - make_interval(secs => %(idle_s)s))",
        {"user_id": user_id, "idle_s": settings.session_idle_s},
    )
    token = secrets.token_urlsafe(32)
    cursor = await db.execute(
        _INSERT_SESSION,
        {
            "token_hash": token_digest(token, settings.secret_key),
            "user_id": user_id,
            "password_hash": password_hash,
            "lifetime_s": settings.session_lifetime_s,
        },
    )
    row = await cursor.fetchone()
    # In UTC whatever the database session's time zone: cookies' Expires is in GMT.
    return None if row is None else (token, row.expires_at.astimezone(UTC))


async def identity_for_token(
    db: AsyncConnection, token: str, settings: Settings
) -> Identity | None:
    """Who holds this session token, or None (unknown, expired, idle for too long, or
    not a token at all). Records the use, at most once a minute."""
    (identity,) = await identities_for_tokens(db, [token], settings)
    return identity


async def identities_for_tokens(
    db: AsyncConnection, tokens: Sequence[str], settings: Settings
) -> list[Identity | None]:
    """identity_for_token for many tokens in ONE statement: the identity behind each
    token, in the order of ``tokens`` (None where identity_for_token would answer
    None). Duplicates get the same answer and touch their session once; no token can
    fail the statement (could_be_a_session)."""
    identities: list[Identity | None] = [None] * len(tokens)
    positions = [position for position, token in enumerate(tokens) if could_be_a_session(token)]
    if not positions:
        return identities
    params = live_session_parameters((tokens[position] for position in positions), settings)
    cursor = await db.execute(_SESSION_IDENTITIES, params)
    for row in await cursor.fetchall():
        identities[positions[row.position - 1]] = Identity(
            user_id=row.user_id, name=row.name, status=row.status, specialty=row.specialty
        )
    return identities


async def end_session(db: AsyncConnection, token: str, settings: Settings) -> bool:
    """End the session of this token; True when there was one."""
    cursor = await db.execute(
        "DELETE FROM sessions WHERE token_hash = %(token_hash)s",
        {"token_hash": token_digest(token, settings.secret_key)},
    )
    return cursor.rowcount > 0


async def logout(db: AsyncConnection, token: str | None, settings: Settings) -> bool:
    return bool(token) and await end_session(db, token, settings)


async def change_password(
    pool: AsyncConnectionPool,
    identity: Identity,
    token: str,
    old_password: str,
    new_password: str,
    settings: Settings,
    address: str | None = None,
) -> tuple[str, datetime]:
    """Change the caller's password after checking their current one; end every
    session of theirs (every device) and return a fresh session for this caller.

    A wrong current password is Forbidden and counts as a failed login, for the
    account and for the address (the same throttle as /login). Argon2 runs with no
    pooled connection held. The change is one transaction: the new hash (only if the
    old one is still current: of two concurrent changes, one wins), the end of every
    session (refused if the caller's own session ended meanwhile), and the new one.
    """
    async with pool.connection() as db:
        await admit_attempt(db, identity.name, address, settings)
        cursor = await db.execute(
            "SELECT password FROM users WHERE user_id = %(user_id)s",
            {"user_id": identity.user_id},
        )
        row = await cursor.fetchone()
    if row is None:
        raise NotAuthenticated()  # the account has just been deleted
    if not await verify_password_off_loop(row.password, old_password):
        raise Forbidden(WRONG_PASSWORD)
    new_hash = await hash_password_off_loop(new_password)
    async with pool.connection() as db, db.transaction():
        changed = await db.execute(
            "UPDATE users SET password = %(new_hash)s "
            "WHERE user_id = %(user_id)s AND password = %(old_hash)s",
            {"new_hash": new_hash, "user_id": identity.user_id, "old_hash": row.password},
        )
        if changed.rowcount == 0:
            raise Forbidden(WRONG_PASSWORD)  # changed meanwhile: no longer the password
        cursor = await db.execute(
            "DELETE FROM sessions WHERE user_id = %(user_id)s RETURNING token_hash",
            {"user_id": identity.user_id},
        )
        ended = {bytes(ended_row.token_hash) for ended_row in await cursor.fetchall()}
        if token_digest(token, settings.secret_key) not in ended:
            raise NotAuthenticated()  # logged out meanwhile: nothing changes
        await forget_failures(db, identity.name, address)
        session = await _insert_session(db, identity.user_id, new_hash, settings)
        await record_event(
            db,
            actor_id=identity.user_id,
            subject_id=identity.user_id,
            action=AuditAction.CHANGE_PASSWORD,
            address=address,
        )
    assert session is not None, "the new hash was written in this transaction"
    return session
