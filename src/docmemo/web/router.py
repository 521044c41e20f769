"""The service's own pages: / and /status."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from docmemo import __version__
from docmemo.auth.dependencies import session_token_of
from docmemo.auth.schemas import AuthStatus
from docmemo.db.dependencies import DbPool
from docmemo.db.engine import DATABASE_UNAVAILABLE_ERRORS
from docmemo.web import service
from docmemo.web.paths import LIVENESS_PATH, READINESS_PATH
from docmemo.web.reads import reads_of
from docmemo.web.schemas import (
    DatabaseStatus,
    EndpointLink,
    HealthOut,
    ServiceInfo,
    StatusOut,
    error_responses,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["service"])
SERVICE_NAME = "Docteur Memo"


@router.get("/", response_model=ServiceInfo)
async def service_info(request: Request) -> ServiceInfo:
    """The service's name, version and its endpoints."""
    # The OpenAPI document is built once and cached by FastAPI.
    links = [
        EndpointLink(method=method.upper(), path=path, summary=operation.get("summary", ""))
        for path, operations in request.app.openapi()["paths"].items()
        for method, operation in operations.items()
    ]
    return ServiceInfo(service=SERVICE_NAME, version=__version__, docs="/docs", endpoints=links)


@router.get("/status", response_model=StatusOut)
async def status(request: Request) -> StatusOut:
    """Whether the database answers and what it holds; who is logged in."""
    # A busy route: no dependencies (web.reads.reads_of says why).
    reads, token = reads_of(request), session_token_of(request)
    try:
        counts = await reads.registry_counts(None)
        identity = await reads.identities(token) if token else None
    except DATABASE_UNAVAILABLE_ERRORS as error:
        log.warning("status: database unavailable (%s)", type(error).__name__)
        return StatusOut(
            service=SERVICE_NAME,
            version=__version__,
            database=DatabaseStatus(reachable=False),
            authentication=AuthStatus(logged_in=False),
        )
    authentication = (
        AuthStatus(logged_in=True, **identity.model_dump())
        if identity
        else AuthStatus(logged_in=False)
    )
    return StatusOut(
        service=SERVICE_NAME,
        version=__version__,
        database=DatabaseStatus(reachable=True, **counts.model_dump()),
        authentication=authentication,
    )


@router.get(LIVENESS_PATH, response_model=HealthOut)
async def liveness() -> HealthOut:
    """Liveness probe: the process answers (the database is not consulted, so that an
    outage of the database does not get every replica restarted)."""
    return HealthOut(status="alive")


@router.get(
    READINESS_PATH,
    response_model=HealthOut,
    responses=error_responses(e503="The database is down or its schema is not migrated"),
)
async def readiness(request: Request, pool: DbPool) -> HealthOut:
    """Readiness probe: the database answers within 1 s and its schema is this
    version's migration head (or a newer one, during a rolling update)."""
    state = request.app.state
    # Its own connection, taken within the probe's time bound.
    await service.check_readiness(pool, state.schema_head, state.known_revisions)
    return HealthOut(status="ready")
