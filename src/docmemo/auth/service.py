"""Authentication, sessions and login throttling; all of their SQL lives here.

Sessions: the cookie holds a random 256-bit token; the database stores only its
HMAC-SHA256 under the server secret, so a leaked sessions table opens nothing.

Throttling: failures are counted per account name (its case-insensitive key, whether or not
the account exists, so the answer tells nothing about existence) in PostgreSQL,
which every API process shares. After ``login_max_failures`` failures within
the window the account is refused with 429 for ``base · 2^(extra failures)``
seconds, capped at ``login_lockout_max_s``. Other accounts are never affected,
and a success clears the count. Each attempt is counted before its password is
checked, under a row lock, so concurrent guesses get no more tries than serial ones.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from docmemo.auth.passwords import dummy_hash, verify_password_off_loop
from docmemo.auth.schemas import Identity
from docmemo.config import Settings
from docmemo.errors import InvalidCredentials, TooManyAttempts
from docmemo.users.names import name_key

# Session tokens are 43 characters (32 random bytes, URL-safe base64).
MAX_TOKEN_LENGTH = 256
# Failures older than this no longer count towards a lock-out.
FAILURE_WINDOW = timedelta(minutes=15)


def token_digest(token: str, secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).digest()


def throttle_key(name: str) -> str:
    return name_key(name)


_FIND_LOGIN = """
    SELECT u.user_id, u.name, u.status, h.specialty, u.password
    FROM users u LEFT JOIN healthpros h ON h.user_id = u.user_id
    WHERE name_key(u.name) = name_key(%(name)s)
"""

_SESSION_IDENTITY = """
    SELECT u.user_id, u.name, u.status, h.specialty
    FROM sessions s
    JOIN users u ON u.user_id = s.user_id
    LEFT JOIN healthpros h ON h.user_id = u.user_id
    WHERE s.token_hash = %(token_hash)s AND s.expires_at > now()
"""

# One atomic statement per attempt: concurrent attempts on one account queue on its
# row. While the account is locked the row is left as it is (``refused``: the
# attempt is not counted and gets 429); otherwise the attempt is counted as a
# failure, the count restarting when the last failure is older than the window.
_COUNT_ATTEMPT = """
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


async def admit_attempt(db: AsyncConnection, name: str, settings: Settings) -> None:
    """Refuse (429) a locked account; otherwise count this attempt as a failure *before*
    the password is checked (a success clears the count). Counting first means that
    many concurrent guesses cannot all slip in before the first failure is recorded."""
    cursor = await db.execute(
        _COUNT_ATTEMPT,
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


async def login(
    pool: AsyncConnectionPool,
    name: str,
    password: str,
    settings: Settings,
    previous_token: str | None = None,
) -> tuple[Identity, str, datetime]:
    """Check the name (any case) and password (exact); start a session.

    Returns who logged in, the new session token and its expiry. Unknown names are
    verified against a dummy hash so that both failures take the same time and get
    the same answer. A token presented at login is ended: a login always rotates.
    The database is visited twice, before and after Argon2, and no connection is
    held while it runs: a burst of logins must not take the pool from other requests.
    """
    name = name.strip(" ")
    if "\x00" in name:
        # No name can hold NUL (PostgreSQL text cannot): an unknown name, same answer.
        await verify_password_off_loop(dummy_hash(), password)
        raise InvalidCredentials()
    async with pool.connection() as db:
        await admit_attempt(db, name, settings)
        row = await (await db.execute(_FIND_LOGIN, {"name": name})).fetchone()
    password_hash = row.password if row is not None else dummy_hash()
    password_ok = await verify_password_off_loop(password_hash, password)
    if row is None or not password_ok:
        raise InvalidCredentials()
    identity = Identity(
        user_id=row.user_id, name=row.name, status=row.status, specialty=row.specialty
    )
    async with pool.connection() as db, db.transaction():
        await db.execute(
            "DELETE FROM login_throttle WHERE account_key = %(key)s", {"key": throttle_key(name)}
        )
        if previous_token:
            await end_session(db, previous_token, settings)
        token, expires_at = await _insert_session(db, identity.user_id, settings)
    return identity, token, expires_at


async def _insert_session(
    db: AsyncConnection, user_id: str, settings: Settings
) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.session_lifetime_s)
    # Expired sessions of this user go now rather than piling up.
    await db.execute(
        "DELETE FROM sessions WHERE user_id = %(user_id)s AND expires_at <= now()",
        {"user_id": user_id},
    )
    await db.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at) "
        "VALUES (%(token_hash)s, %(user_id)s, %(expires_at)s)",
        {
            "token_hash": token_digest(token, settings.secret_key),
            "user_id": user_id,
            "expires_at": expires_at,
        },
    )
    return token, expires_at


async def identity_for_token(
    db: AsyncConnection, token: str, settings: Settings
) -> Identity | None:
    """Who holds this session token, or None (unknown, expired, or not a token at all)."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None  # no token of ours is this long: not worth hashing or a query
    cursor = await db.execute(
        _SESSION_IDENTITY, {"token_hash": token_digest(token, settings.secret_key)}
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    return Identity(user_id=row.user_id, name=row.name, status=row.status, specialty=row.specialty)


async def end_session(db: AsyncConnection, token: str, settings: Settings) -> bool:
    """End the session of this token; True when there was one."""
    cursor = await db.execute(
        "DELETE FROM sessions WHERE token_hash = %(token_hash)s",
        {"token_hash": token_digest(token, settings.secret_key)},
    )
    return cursor.rowcount > 0


async def logout(db: AsyncConnection, token: str | None, settings: Settings) -> bool:
    return bool(token) and await end_session(db, token, settings)
