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

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy import exc as sa_exc

from docmemo.config import Settings
from docmemo.errors import DatabaseUnavailable


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


def make_pool(settings: Settings) -> AsyncConnectionPool:
    """The API's connection pool, opened by the app's lifespan. Connections are in
    autocommit: a read is one statement, and writes open ``db.transaction()``."""
    return AsyncConnectionPool(
        conninfo(settings),
        min_size=settings.db_pool_size,
        max_size=settings.db_pool_size,
        # How long a request waits for a connection: past it, 503.
        timeout=settings.db_pool_timeout_s,
        kwargs={
            "autocommit": True,
            "row_factory": namedtuple_row,
            "connect_timeout": max(1, round(settings.db_connect_timeout_s)),
        },
        open=False,
        name="docmemo",
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


async def get_pool(request: Request) -> AsyncConnectionPool:
    return request.app.state.pool


# For the few pages that must answer even when the database does not (/status, the
# readiness probe): they take a connection themselves, inside their own error handling.
DbPool = Annotated[AsyncConnectionPool, Depends(get_pool)]


async def get_db(pool: DbPool) -> AsyncIterator[AsyncConnection]:
    """One pooled connection per request, in autocommit; services that write more
    than one statement open ``async with db.transaction()``."""
    async with pool.connection() as connection:
        yield connection


DbConnection = Annotated[AsyncConnection, Depends(get_db)]


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
