"""Engines and sessions: async for the API, sync for the command line and seeding."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from docmemo.config import Settings
from docmemo.errors import DatabaseUnavailable


def _connect_args(settings: Settings) -> dict:
    return {"connect_timeout": max(1, round(settings.db_connect_timeout_s))}


def make_async_engine(settings: Settings) -> AsyncEngine:
    assert settings.database_url, "the database URL is resolved before engines are made"
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=settings.db_connect_timeout_s,
        # No pre-ping: it would cost every request a second round trip. A connection
        # found dead is an error for that request (503) and the pool then replaces
        # every connection opened before it (SQLAlchemy's disconnect handling).
        connect_args=_connect_args(settings),
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


def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


# For the few pages that must answer even when the database does not (/status, the
# readiness probe): they connect themselves, inside their own error handling.
DbEngine = Annotated[AsyncEngine, Depends(get_engine)]


async def get_db(engine: DbEngine) -> AsyncIterator[AsyncConnection]:
    """One pooled connection per request (Core, no ORM session: the services write
    their SQL); services decide where their transactions begin and end, and one
    left open is rolled back when the request ends."""
    async with engine.connect() as connection:
        yield connection


DbConnection = Annotated[AsyncConnection, Depends(get_db)]


# What a lost or refused database connection raises, at connect time or mid-request.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
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
