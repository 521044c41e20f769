"""Stale throttle rows (names nobody has included) are deleted a few at a time by
login attempts, and rows that still change an answer are kept."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from docmemo.auth.service import PURGE_BATCH, purge_stale_throttle_rows, throttle_key
from tests.helpers import unique_name

STALE = 2 * PURGE_BATCH + 5


@pytest.fixture(autouse=True)
def _empty_throttle_tables(sync_engine: Engine):
    def empty() -> None:
        with sync_engine.begin() as conn:
            conn.execute(text("DELETE FROM login_throttle"))
            conn.execute(text("DELETE FROM login_address_throttle"))

    empty()
    yield
    empty()


def _fill(engine: Engine, settings) -> None:
    """STALE stale rows in each table, and rows that must stay."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO login_throttle (account_key, failures, last_failure_at, locked_until) "
                "SELECT 'stale ' || i, 3, now() - interval '16 minutes' - i * interval '1 second', "
                "       CASE WHEN i % 2 = 0 THEN now() - interval '1 minute' END "
                "FROM generate_series(1, :n) AS i"
            ),
            {"n": STALE},
        )
        conn.execute(
            text(
                "INSERT INTO login_throttle (account_key, failures, last_failure_at, locked_until) "
                "VALUES ('recent failure', 2, now() - interval '1 minute', NULL), "
                # The failure is old, but its lock (a long one) still runs.
                "       ('still locked', 9, now() - interval '20 minutes', "
                "        now() + interval '5 minutes')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO login_address_throttle (address, failures, window_started_at) "
                "SELECT ('10.0.' || (i / 256) || '.' || (i % 256))::inet, 4, "
                "       now() - make_interval(secs => :window + i) "
                "FROM generate_series(1, :n) AS i"
            ),
            {"n": STALE, "window": settings.login_address_window_s},
        )
        conn.execute(
            text(
                "INSERT INTO login_address_throttle (address, failures, window_started_at) "
                "VALUES ('192.0.2.99', 4, now() - interval '1 minute')"
            )
        )


def _rows(engine: Engine) -> tuple[set[str], set[str]]:
    with engine.connect() as conn:
        accounts = set(conn.execute(text("SELECT account_key FROM login_throttle")).scalars())
        addresses = set(
            conn.execute(text("SELECT host(address) FROM login_address_throttle")).scalars()
        )
    return accounts, addresses


async def test_stale_rows_go_a_batch_at_a_time_and_live_ones_stay(db, settings, sync_engine):
    _fill(sync_engine, settings)
    assert await purge_stale_throttle_rows(db, settings) == (PURGE_BATCH, PURGE_BATCH)
    assert await purge_stale_throttle_rows(db, settings) == (PURGE_BATCH, PURGE_BATCH)
    assert await purge_stale_throttle_rows(db, settings) == (5, 5)
    assert await purge_stale_throttle_rows(db, settings) == (0, 0)
    assert _rows(sync_engine) == ({"recent failure", "still locked"}, {"192.0.2.99"})


async def test_each_login_attempt_purges_a_batch(client, settings, sync_engine):
    _fill(sync_engine, settings)
    accounts_before, addresses_before = _rows(sync_engine)
    await client.post("/login", data={"name": "Someone Unknown", "password": "nope"})
    accounts_after, addresses_after = _rows(sync_engine)
    # A batch of each went; the attempt added its own account row and address row.
    assert len(accounts_after) == len(accounts_before) - PURGE_BATCH + 1
    assert len(addresses_after) == len(addresses_before) - PURGE_BATCH + 1
    assert {"recent failure", "still locked", throttle_key("Someone Unknown")} <= accounts_after


async def test_the_row_of_a_name_nobody_has_goes_once_it_is_stale(client, sync_engine):
    nobody = unique_name("Nobody")
    await client.post("/login", data={"name": nobody, "password": "nope"})
    assert throttle_key(nobody) in _rows(sync_engine)[0]
    with sync_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE login_throttle SET last_failure_at = now() - interval '16 minutes' "
                "WHERE account_key = :k"
            ),
            {"k": throttle_key(nobody)},
        )
    await client.post("/login", data={"name": unique_name("Other"), "password": "nope"})
    assert throttle_key(nobody) not in _rows(sync_engine)[0]
