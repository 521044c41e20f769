"""What the audit trail endpoint answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from docmemo.db.models import AuditAction, AuditOutcome
from docmemo.users.schemas import UserIdHex

MAX_PAGE = 500
DEFAULT_PAGE = 50


class AuditEventOut(BaseModel):
    event_id: int = Field(description="Grows with every event: a later event has a larger id")
    occurred_at: datetime = Field(description="When (the time of the transaction)")
    actor_id: UserIdHex | None = Field(description="Who; null for an anonymous creation")
    actor_name: str | None = Field(
        description="The actor's name today; null if anonymous or since deleted"
    )
    action: AuditAction = Field(
        description="read_record (GET /get_user_by_name), predict, read_assessments, "
        "record_assessment, read_audit_trail, create_user, change_password"
    )
    outcome: AuditOutcome = Field(
        description="denied: a logged-in user was refused this patient's data"
    )
    address: str | None = Field(
        description="The client's IP address as the API saw it (behind a proxy: see README)"
    )


class AuditTrailOut(BaseModel):
    """One page of a patient's audit trail, newest first."""

    patient: str = Field(description="The patient's name")
    patient_id: UserIdHex
    events: list[AuditEventOut]
    next_before: int | None = Field(
        description="Pass as ?before= for the next, older page; null on the last page"
    )
