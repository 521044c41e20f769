"""Engines and sessions: async for the API, sync for the command line and seeding."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

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
        pool_pre_ping=True,
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


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; services decide where their transactions begin and end."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_db)]


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
