"""/patients/{name}/assessments: a patient's MMSE history, and recording a new score."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from docmemo.assessments import service
from docmemo.assessments.dependencies import HealthPro
from docmemo.assessments.schemas import (
    AssessmentEntry,
    AssessmentOut,
    HistoryOut,
    NewAssessment,
    RecorderOut,
)
from docmemo.auth.dependencies import ClientAddress, LoggedInUser
from docmemo.db.dependencies import DbConnection
from docmemo.web.schemas import error_responses

router = APIRouter(tags=["assessments"])

PatientName = Annotated[str, Path(description="The patient's name; case is ignored")]


def _fields(assessment: service.AssessmentRecord) -> dict[str, object]:
    recorder = assessment.recorded_by
    return {
        "assessment_id": assessment.assessment_id,
        "mmse": assessment.mmse,
        "assessed_at": assessment.assessed_at,
        "recorded_by": RecorderOut(user_id=recorder.user_id, name=recorder.name)
        if recorder
        else None,
        "recorded_at": assessment.recorded_at,
    }


@router.post(
    "/patients/{name}/assessments",
    status_code=status.HTTP_201_CREATED,
    response_model=AssessmentOut,
    responses=error_responses(
        e401="Not logged in",
        e403="Logged in, but not a health professional",
        e404="No patient of that name",
        e422="mmse outside 0–30, a date in the future or before 1900, or an unknown field",
    ),
)
async def record_assessment(
    db: DbConnection,
    actor: HealthPro,
    address: ClientAddress,
    name: PatientName,
    assessment: NewAssessment,
) -> AssessmentOut:
    """Record an MMSE assessment of a patient (health professionals only). The
    patient's current score becomes this one unless a later assessment exists."""
    patient, recorded = await service.record_assessment(
        db, actor, name, assessment.mmse, assessment.assessed_at, address
    )
    return AssessmentOut(patient=patient.name, **_fields(recorded))


@router.get(
    "/patients/{name}/assessments",
    response_model=HistoryOut,
    responses=error_responses(
        e401="Not logged in",
        e404="No such patient, or one you may not see (the same answer)",
    ),
)
async def assessment_history(
    db: DbConnection, viewer: LoggedInUser, address: ClientAddress, name: PatientName
) -> HistoryOut:
    """A patient's MMSE assessments, oldest first. Who may read them: as for the
    patient's record (health professionals, the patient, their caregiver)."""
    record, history = await service.read_history(db, viewer, name, address)
    return HistoryOut(
        patient=record.name, assessments=[AssessmentEntry(**_fields(item)) for item in history]
    )
