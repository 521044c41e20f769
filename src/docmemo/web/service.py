"""Health checks for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from psycopg import AsyncConnection
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from docmemo.db.engine import DATABASE_UNAVAILABLE_ERRORS
from docmemo.errors import DatabaseUnavailable, NotReady

# A probe must get its answer quickly: a database that has not answered by then is down.
# Well within the probes' own timeouts (deploy/k8s: 3 s) and the 2 s the outage tests
# allow any answer.
READINESS_TIMEOUT_S = 1.0


async def check_readiness(
    pool: AsyncConnectionPool, schema_head: str | None, known_revisions: frozenset[str]
) -> None:
    """Raise unless the database answers and its schema is ready for this version: at
    ``schema_head``, or at a revision this version does not know. The latter is a newer
    version's schema during a rolling update; migrations add before they take away, so
    the pods of the older version keep serving until they are replaced."""
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_S):
            async with pool.connection(timeout=READINESS_TIMEOUT_S) as connection:
                revision = await _schema_revision(connection)
    except (TimeoutError, *DATABASE_UNAVAILABLE_ERRORS) as error:
        raise DatabaseUnavailable from error
    if revision == schema_head or (revision is not None and revision not in known_revisions):
        return
    raise NotReady(
        f"The database schema is at revision {revision or 'none'}, "
        f"this version needs {schema_head}; run `docmemo migrate`"
    )


async def _schema_revision(connection: AsyncConnection) -> str | None:
    """The revision Alembic recorded, or None for a database never migrated."""
    try:
        cursor = await connection.execute("SELECT version_num FROM alembic_version")
    except pg_errors.UndefinedTable:
        return None
    row = await cursor.fetchone()
    return row.version_num if row else None
