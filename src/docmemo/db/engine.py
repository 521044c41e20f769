"""Database access: a psycopg pool for the API's requests; SQLAlchemy engines for the
command line, migrations and seeding.

Why two: a request's queries are one or two statements written out in SQL, and
going through SQLAlchemy's async layer (a greenlet per call, its pool, its result
objects) cost more than the query itself: a count took 1.6–2.1 ms through it and
0.6 ms through psycopg alone (docs/BENCHMARKS.md, "Why psycopg directly").
The API therefore talks to psycopg 3 directly, through psycopg's own pool, with
server-side prepared statements; everything that runs once (Alembic, seeding,
the ORM models that describe the schema) keeps SQLAlchemy.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy import exc as sa_exc

from docmemo.config import Settings
from docmemo.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


def _connect_args(settings: Settings) -> dict:
    return {"connect_timeout": max(1, round(settings.db_connect_timeout_s))}


def conninfo(settings: Settings) -> str:
    """The libpq form of DATABASE_URL (without SQLAlchemy's driver suffix)."""
    assert settings.database_url, "the database URL is resolved before pools are made"
    return (
        make_url(settings.database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


class RegistryPool(AsyncConnectionPool[AsyncConnection]):
    """psycopg's pool, which does not hand out a connection the server has closed.

    When PostgreSQL stops (or ends a session: restart, ``pg_terminate_backend``, a
    crash), the connections idle in the pool die unseen; psycopg's pool would give
    each out once more, and the request holding it would fail. The server's goodbye
    (its last message, then end of file) makes the socket readable, while an idle
    connection otherwise has nothing to read. So at each checkout a poll of the
    socket, a system call without a round trip to the server, tells the connections
    left as they were from the ones that something happened to; only those get a
    round trip to tell a dead one from a live one. A dead one is closed and replaced
    (in the background) and the request takes the next one, within its time bound.

    Checking every connection with a query at checkout (``check=check_connection``)
    would cost a round trip on every request, about as much as a count's own query
    (0.5 ms against 0.6 ms on the local server, see above); the poll costs 3 µs.
    Not covered: a server that vanishes without closing its sockets (a host powered
    off, a network cut) leaves nothing to read; a request on such a connection waits
    for TCP to give up.
    """

    async def getconn(self, timeout: float | None = None) -> AsyncConnection:  # noqa: ASYNC109
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            connection = await super().getconn(max(0.0, deadline - time.monotonic()))
            if await _still_open(connection):
                return connection
            log.info("a pooled connection was closed by the server: replacing it")
            await connection.close()
            # Given back closed, it is discarded and a new one is made in the background.
            await self.putconn(connection)


async def _still_open(connection: AsyncConnection) -> bool:
    if connection.closed or connection.broken:
        return False
    poll = select.poll()
    poll.register(connection.pgconn.socket, select.POLLIN)
    if not poll.poll(0):
        return True  # nothing arrived since it was given back
    try:
        await AsyncConnectionPool.check_connection(connection)
    except psycopg.Error:
        return False
    return True


def make_pool(
    settings: Settings, *, size: int | None = None, name: str = "docmemo"
) -> RegistryPool:
    """The API's connection pool (``DOCMEMO_DB_POOL_SIZE`` connections unless ``size``
    says otherwise), opened by the app's lifespan. Connections are in autocommit: a
    read is one statement, and writes open ``db.transaction()``."""
    size = settings.db_pool_size if size is None else size
    return RegistryPool(
        conninfo(settings),
        min_size=size,
        max_size=size,
        # How long a request waits for a connection: past it, 503.
        timeout=settings.db_pool_timeout_s,
        # A lost connection is tried again once, this long after, then its slot is
        # given up; from then on a request that finds no connection starts a new
        # attempt at once. psycopg's default (retrying for 5 min, the delay doubling
        # from 1 s) would leave a database that came back unused for about as long as
        # it had been away. Half a request's wait: one that comes after the database
        # is back waits at most for one such retry, and gets its connection in time.
        reconnect_timeout=settings.db_pool_timeout_s / 2,
        kwargs={
            "autocommit": True,
            "row_factory": namedtuple_row,
            "connect_timeout": max(1, round(settings.db_connect_timeout_s)),
        },
        open=False,
        name=name,
    )


@contextmanager
def sync_engine(settings: Settings) -> Iterator[Engine]:
    """A sync engine for one piece of work (a command, a migration), then disposed of."""
    assert settings.database_url, "the database URL is resolved before engines are made"
    engine = create_engine(settings.database_url, connect_args=_connect_args(settings))
    try:
        yield engine
    finally:
        engine.dispose()


# What a lost or refused database connection raises, at connect time or mid-request.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    PoolTimeout,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    ConnectionError,
    OSError,
)


def wait_for_database(
    settings: Settings,
    on_retry: Callable[[Exception, float], None] | None = None,
    *,
    first_delay_s: float = 0.5,
    max_delay_s: float = 5.0,
) -> None:
    """Return once the database answers; retry with backoff for ``settings.db_wait_s``
    seconds, then raise DatabaseUnavailable. ``on_retry(error, delay_s)`` is told of
    each failed attempt."""
    deadline = time.monotonic() + settings.db_wait_s
    delay_s = first_delay_s
    with sync_engine(settings) as engine:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return
            except DATABASE_UNAVAILABLE_ERRORS as error:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    raise DatabaseUnavailable(
                        f"The database did not answer within {settings.db_wait_s:g} s "
                        f"({type(error).__name__})"
                    ) from error
                delay_s = min(delay_s, max_delay_s, remaining_s)
                if on_retry:
                    on_retry(error, delay_s)
                time.sleep(delay_s)
                delay_s *= 2
