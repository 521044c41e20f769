"""A request's database access, as FastAPI dependencies: the pool the app opened at
start-up, and one pooled connection per request.

Apart from ``db.engine`` so that the command line (seeding, migrations), which
never serves a request, does not import FastAPI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from docmemo.db.engine import RegistryPool


async def get_pool(request: Request) -> RegistryPool:
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
