"""identities_for_tokens: the sessions of many requests found by one statement (issue 4,
the coalesced reads). Each token gets identity_for_token's answer, in order, whatever
else is in the batch; a session's last use is written at most once per batch, and
only when it is a minute old; recording a use never waits for a lock.

Time is moved by moving the sessions' timestamps in the database: no sleeping.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg.rows import namedtuple_row
from sqlalchemy import Engine, text

from docmemo.auth.schemas import Identity
from docmemo.auth.service import (
    MAX_TOKEN_LENGTH,
    SESSION_TOUCH_INTERVAL_S,
    identities_for_tokens,
    identity_for_token,
    token_digest,
)
from docmemo.db.engine import conninfo
from docmemo.db.models import Role, Specialty
from tests.helpers import last_seen, login, make_user, move_session


def _identity(record) -> Identity:
    return Identity(
        user_id=record.user_id, name=record.name, status=record.status, specialty=record.specialty
    )


@contextmanager
def counted_session_updates(engine: Engine) -> Iterator[list[bytes]]:
    """While inside, every update of a sessions row appends its token_hash to a table;
    the list yielded is filled with them on the way out."""
    suffix = uuid.uuid4().hex[:8]
    table, function = f"test_session_updates_{suffix}", f"test_count_session_update_{suffix}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (token_hash bytea)"))
        conn.execute(
            text(f"""
                CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO {table} VALUES (NEW.token_hash);
                    RETURN NEW;
                END $$""")
        )
        conn.execute(
            text(f"""
                CREATE TRIGGER {function} AFTER UPDATE ON sessions
                FOR EACH ROW EXECUTE FUNCTION {function}()""")
        )
    updated: list[bytes] = []
    try:
        yield updated
    finally:
        with engine.begin() as conn:
            updated.extend(
                bytes(row.token_hash) for row in conn.execute(text(f"SELECT * FROM {table}"))
            )
            conn.execute(text(f"DROP TRIGGER {function} ON sessions"))
            conn.execute(text(f"DROP FUNCTION {function}()"))
            conn.execute(text(f"DROP TABLE {table}"))


@pytest.fixture
async def people(pool):
    return {
        "patient": await make_user(pool, Role.PATIENT),
        "carer": await make_user(pool, Role.CAREGIVER),
        "neurologist": await make_user(pool, Role.HEALTHPRO, specialty=Specialty.NEUROLOGIST),
        "psychologist": await make_user(pool, Role.HEALTHPRO, specialty=Specialty.PSYCHOLOGIST),
    }


async def new_session(client, person) -> str:
    """A fresh session's token; the client keeps no cookie (a login that presents one
    would end that session)."""
    token = (await login(client, person.name)).json()["access_token"]
    client.cookies.clear()
    return token


@pytest.fixture
async def tokens(client, people) -> dict[str, str]:
    """A fresh session of each person."""
    return {who: await new_session(client, person) for who, person in people.items()}


async def test_each_token_gets_its_own_answer_in_order_among_good_and_bad_ones(
    db, client, people, tokens, sync_engine, settings
):
    expired = await new_session(client, people["carer"])
    move_session(sync_engine, expired, settings, "expires_at = now() - interval '1 second'")
    idle = await new_session(client, people["patient"])
    move_session(
        sync_engine,
        idle,
        settings,
        f"last_seen_at = now() - make_interval(secs => {settings.session_idle_s + 1})",
    )
    logged_out = await new_session(client, people["neurologist"])
    ended = await client.post("/logout", headers={"Authorization": f"Bearer {logged_out}"})
    assert ended.json() == {"detail": "Logged out"}
    batch = [
        tokens["patient"],
        secrets.token_urlsafe(32),  # nobody's
        tokens["neurologist"],
        expired,
        tokens["patient"],
        idle,
        "x" * (MAX_TOKEN_LENGTH + 1),
        tokens["carer"],
        logged_out,
        "",
        tokens["psychologist"],
        tokens["neurologist"],
    ]
    who = _identity
    expected = [
        who(people["patient"]),
        None,
        who(people["neurologist"]),
        None,
        who(people["patient"]),
        None,
        None,
        who(people["carer"]),
        None,
        None,
        who(people["psychologist"]),
        who(people["neurologist"]),
    ]
    assert await identities_for_tokens(db, batch, settings) == expected
    # One at a time, the same answers (identity_for_token is the batch of one).
    assert [await identity_for_token(db, token, settings) for token in batch] == expected


async def test_a_batch_of_duplicates_touches_each_stale_session_once_and_fresh_ones_never(
    db, tokens, sync_engine, settings
):
    stale, fresh = tokens["carer"], tokens["psychologist"]
    move_session(
        sync_engine,
        stale,
        settings,
        f"last_seen_at = now() - make_interval(secs => {SESSION_TOUCH_INTERVAL_S + 5})",
    )
    fresh_seen = last_seen(sync_engine, fresh, settings)
    with counted_session_updates(sync_engine) as updated:
        answers = await identities_for_tokens(
            db, [stale, fresh, stale, stale, fresh, stale], settings
        )
    assert all(answer is not None for answer in answers)
    assert updated == [token_digest(stale, settings.secret_key)]
    assert last_seen(sync_engine, fresh, settings) == fresh_seen
    # Now recent: the next batch writes nothing at all.
    with counted_session_updates(sync_engine) as updated:
        assert None not in await identities_for_tokens(db, [stale, fresh, stale], settings)
    assert updated == []


@pytest.fixture
async def own_connection(settings) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection like the pool's that gives up waiting for a lock after a while, so
    that a statement that waits fails instead of hanging."""
    connection = await psycopg.AsyncConnection.connect(
        conninfo(settings), autocommit=True, row_factory=namedtuple_row
    )
    await connection.execute("SET lock_timeout = '10s'")
    try:
        yield connection
    finally:
        await connection.close()


async def test_a_session_row_locked_by_another_transaction_is_not_waited_for(
    own_connection, people, tokens, sync_engine, settings
):
    """Two batches updating several sessions each in no set order could each wait for
    the other; a use is not worth a wait: the locked row is skipped, the others
    touched, every identity answered."""
    locked, other = tokens["patient"], tokens["carer"]
    for token in (locked, other):
        move_session(
            sync_engine,
            token,
            settings,
            f"last_seen_at = now() - make_interval(secs => {SESSION_TOUCH_INTERVAL_S + 5})",
        )
    locked_seen = last_seen(sync_engine, locked, settings)
    with sync_engine.connect() as holder:
        holder.execute(
            text("SELECT 1 FROM sessions WHERE token_hash = :h FOR UPDATE"),
            {"h": token_digest(locked, settings.secret_key)},
        )
        answers = await identities_for_tokens(own_connection, [locked, other], settings)
        holder.rollback()
    assert answers == [_identity(people["patient"]), _identity(people["carer"])]
    assert last_seen(sync_engine, locked, settings) == locked_seen
    assert last_seen(sync_engine, other, settings) > locked_seen
    # Once the lock is gone, the next use is recorded.
    await identities_for_tokens(own_connection, [locked], settings)
    assert last_seen(sync_engine, locked, settings) > locked_seen


async def test_tokens_that_cannot_be_ours_are_answered_without_the_database(settings):
    closed = await psycopg.AsyncConnection.connect(conninfo(settings), autocommit=True)
    await closed.close()  # any statement on it would raise
    too_long = "x" * (MAX_TOKEN_LENGTH + 1)
    assert await identities_for_tokens(closed, [too_long, too_long * 10], settings) == [
        None,
        None,
    ]
    assert await identities_for_tokens(closed, [], settings) == []
    assert await identity_for_token(closed, too_long, settings) is None
