"""Engines and sessions: async for the API, sync for the command line and seeding."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from docmemo.config import Settings


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
