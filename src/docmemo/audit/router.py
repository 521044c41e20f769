"""/patients/{name}/audit: a patient's audit trail, for neurologists and general
practitioners."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from docmemo.audit import service
from docmemo.audit.dependencies import PatientNamePath, TrailReader
from docmemo.audit.schemas import DEFAULT_PAGE, MAX_PAGE, AuditEventOut, AuditTrailOut
from docmemo.auth.dependencies import ClientAddress
from docmemo.db.dependencies import DbConnection
from docmemo.web.dependencies import only_query_parameters
from docmemo.web.schemas import error_responses

router = APIRouter(tags=["audit"])


@router.get(
    "/patients/{name}/audit",
    response_model=AuditTrailOut,
    dependencies=[only_query_parameters("limit", "before")],
    responses=error_responses(
        e401="Not logged in",
        e403="Logged in, but neither a neurologist nor a general practitioner",
        e404="No patient of that name",
        e503="The database is unavailable, or the reading could not be audited",
    ),
)
async def audit_trail(
    db: DbConnection,
    reader: TrailReader,
    address: ClientAddress,
    name: PatientNamePath,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description="Events per page, newest first")
    ] = DEFAULT_PAGE,
    before: Annotated[
        int | None,
        Query(
            ge=1,
            le=2**63 - 1,
            description="Only events older than this event_id: the previous page's next_before",
        ),
    ] = None,
) -> AuditTrailOut:
    """Who read or changed this patient's record, when, from which address, and who
    was refused: newest first, one page at a time. Reading the trail is itself
    recorded in it."""
    trail = await service.read_trail(db, reader, name, address=address, limit=limit, before=before)
    return AuditTrailOut(
        patient=trail.patient_name,
        patient_id=trail.patient_id,
        events=[
            AuditEventOut(
                event_id=event.event_id,
                occurred_at=event.occurred_at,
                actor_id=event.actor_id,
                actor_name=event.actor_name,
                action=event.action,
                outcome=event.outcome,
                address=event.address,
            )
            for event in trail.events
        ],
        next_before=trail.next_before,
    )
