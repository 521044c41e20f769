"""The coalescer (db.coalescing): concurrent requests share one statement, each
answer comes from a statement sent after its request arrived, and one request's bad
data or cancellation does not fail the others. Against the real PostgreSQL."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from docmemo.config import Settings
from docmemo.db.coalescing import Coalescer, one_answer
from docmemo.db.engine import make_pool


@pytest.fixture(scope="module")
async def coalesced_pool(settings: Settings):
    pool = make_pool(settings, size=2, name="test-coalescing")
    await pool.open(wait=True)
    yield pool
    await pool.close()


class Recorder:
    """A batch function that runs a real statement and remembers each batch's keys."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.batches: list[list[int]] = []
        self.started = asyncio.Event()

    async def __call__(self, db: AsyncConnection, keys: list[int]) -> list[int]:
        self.batches.append(list(keys))
        self.started.set()
        cursor = await db.execute(self.sql, {"keys": keys})
        return [row[0] for row in await cursor.fetchall()]


DOUBLE = "SELECT k * 2 FROM unnest(%(keys)s::int[]) WITH ORDINALITY AS q(k, i) ORDER BY i"
# Division by zero for the key 0: a statement that fails on one request's data.
INVERSE = "SELECT 100 / k FROM unnest(%(keys)s::int[]) WITH ORDINALITY AS q(k, i) ORDER BY i"


async def test_concurrent_requests_share_one_statement(coalesced_pool):
    double = Recorder(DOUBLE)
    coalescer = Coalescer(coalesced_pool, double, name="double")

    answers = await asyncio.gather(*(coalescer(key) for key in range(20)))

    assert answers == [key * 2 for key in range(20)]
    assert double.batches == [list(range(20))]


async def test_equal_keys_share_one_answer(coalesced_pool):
    double = Recorder(DOUBLE)
    coalescer = Coalescer(coalesced_pool, double, name="double")

    answers = await asyncio.gather(*(coalescer(key % 3) for key in range(9)))

    assert answers == [(key % 3) * 2 for key in range(9)]
    assert double.batches == [[0, 1, 2]]


async def test_without_deduplication_each_request_is_an_entry(coalesced_pool):
    double = Recorder(DOUBLE)
    coalescer = Coalescer(coalesced_pool, double, name="double", deduplicate=False)

    answers = await asyncio.gather(*(coalescer(key % 2) for key in range(4)))

    assert answers == [0, 2, 0, 2]
    assert double.batches == [[0, 1, 0, 1]]


async def test_a_batch_holds_at_most_max_batch_keys(coalesced_pool):
    double = Recorder(DOUBLE)
    coalescer = Coalescer(coalesced_pool, double, name="double", max_batch=4)

    answers = await asyncio.gather(*(coalescer(key) for key in range(10)))

    assert answers == [key * 2 for key in range(10)]
    assert double.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_a_request_arriving_during_a_statement_sees_what_was_committed_before_it(
    coalesced_pool, pool: AsyncConnectionPool
):
    """The first request's statement reads the value, then sleeps; meanwhile a write
    commits and a second request arrives. The second must not be answered by the
    statement in flight (it would miss the write), but by the next one."""
    async with pool.connection() as setup:
        await setup.execute("CREATE TABLE IF NOT EXISTS coalescing_probe (value int NOT NULL)")
        await setup.execute("TRUNCATE coalescing_probe")
        await setup.execute("INSERT INTO coalescing_probe VALUES (1)")
    slow_read = Recorder(
        "SELECT (SELECT value FROM coalescing_probe) + 0 * k"
        " FROM unnest(%(keys)s::int[]) WITH ORDINALITY AS q(k, i),"
        " LATERAL (SELECT pg_sleep(0.3)) AS slow ORDER BY i"
    )
    coalescer = Coalescer(coalesced_pool, slow_read, name="slow read")
    try:
        first = asyncio.create_task(coalescer(1))
        await slow_read.started.wait()
        async with pool.connection() as writer:
            await _until_running(writer, "pg_sleep(0.3)")
            await writer.execute("UPDATE coalescing_probe SET value = 2")
        second = await coalescer(2)

        assert await first == 1
        assert second == 2
        assert slow_read.batches == [[1], [2]]
    finally:
        async with pool.connection() as cleanup:
            await cleanup.execute("DROP TABLE coalescing_probe")


async def _until_running(db: AsyncConnection, statement_part: str) -> None:
    """Wait until another session's statement containing ``statement_part`` runs (its
    snapshot taken)."""
    for _ in range(500):
        cursor = await db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
            " AND pid <> pg_backend_pid() AND strpos(query, %(part)s) > 0",
            {"part": statement_part},
        )
        if (await cursor.fetchone())[0]:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"no statement with {statement_part!r} started")


async def test_bad_data_fails_only_its_own_request(coalesced_pool):
    inverse = Recorder(INVERSE)
    coalescer = Coalescer(coalesced_pool, inverse, name="inverse")

    answers = await asyncio.gather(*(coalescer(key) for key in (5, 0, 20)), return_exceptions=True)

    assert answers[0] == 20
    assert isinstance(answers[1], psycopg.errors.DivisionByZero)
    assert answers[2] == 5
    # The batch, then each request alone.
    assert inverse.batches == [[5, 0, 20], [5], [0], [20]]


@pytest.fixture
async def unreachable_pool(settings: Settings):
    """A pool of a server that refuses connections: a connection is awaited 0.3 s."""
    unreachable = settings.model_copy(
        update={
            "database_url": "postgresql+psycopg://postgres@127.0.0.1:9/nowhere",
            "db_pool_timeout_s": 0.3,
        }
    )
    pool = make_pool(unreachable, size=1, name="test-unreachable")
    await pool.open(wait=False)
    yield pool
    await pool.close()


async def test_an_unreachable_database_fails_every_request_once(unreachable_pool):
    double = Recorder(DOUBLE)
    coalescer = Coalescer(unreachable_pool, double, name="double")

    answers = await asyncio.gather(*(coalescer(key) for key in range(5)), return_exceptions=True)

    assert all(isinstance(answer, PoolTimeout) for answer in answers)
    assert double.batches == []


async def test_requests_waiting_behind_a_failed_batch_get_its_error_at_once(unreachable_pool):
    """They are not sent after it one batch at a time, each waiting for a connection
    in turn: the pool is asked once."""
    double = Recorder(DOUBLE)
    coalescer = Coalescer(unreachable_pool, double, name="double")

    first = asyncio.ensure_future(coalescer(1))
    await asyncio.sleep(0.05)  # the first batch waits for a connection
    later = [asyncio.ensure_future(coalescer(key)) for key in (2, 3, 4)]
    answers = await asyncio.gather(first, *later, return_exceptions=True)
    requests_for_a_connection = unreachable_pool.get_stats()["requests_num"]

    assert all(isinstance(answer, PoolTimeout) for answer in answers)
    assert requests_for_a_connection == 1


async def test_a_cancelled_request_does_not_cancel_the_others(coalesced_pool):
    slow_double = Recorder(
        "SELECT k * 2 FROM unnest(%(keys)s::int[]) WITH ORDINALITY AS q(k, i),"
        " LATERAL (SELECT pg_sleep(0.2)) AS slow ORDER BY i"
    )
    coalescer = Coalescer(coalesced_pool, slow_double, name="slow double")
    impatient = asyncio.create_task(coalescer(1))
    patient = asyncio.create_task(coalescer(1))
    await asyncio.sleep(0.05)

    impatient.cancel()

    assert await patient == 2
    assert impatient.cancelled()


async def test_closing_cancels_the_requests_in_flight(coalesced_pool):
    sleepy = Recorder(
        "SELECT k FROM unnest(%(keys)s::int[]) WITH ORDINALITY AS q(k, i),"
        " LATERAL (SELECT pg_sleep(5)) AS slow ORDER BY i"
    )
    coalescer = Coalescer(coalesced_pool, sleepy, name="sleepy")
    waiting = asyncio.create_task(coalescer(1))
    await asyncio.sleep(0.05)

    await asyncio.wait_for(coalescer.aclose(), timeout=3)

    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_one_answer_serves_every_request_of_a_batch(coalesced_pool):
    statements = 0

    async def server_time(db: AsyncConnection) -> object:
        nonlocal statements
        statements += 1
        return (await (await db.execute("SELECT clock_timestamp()")).fetchone())[0]

    coalescer = Coalescer(coalesced_pool, one_answer(server_time), name="time")

    answers = await asyncio.gather(*(coalescer(None) for _ in range(6)))

    assert len(set(answers)) == 1
    assert statements == 1
