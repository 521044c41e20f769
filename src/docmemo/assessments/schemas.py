"""What the assessments endpoints take and answer."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from docmemo.users.schemas import UserIdHex

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _written_as_iso_day(value: object) -> object:
    # Pydantic alone would also take a Unix timestamp or a midnight date-time.
    if value is None or isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        return value
    raise ValueError("a date is written YYYY-MM-DD")


OptionalIsoDay = Annotated[date | None, BeforeValidator(_written_as_iso_day)]


def _a_json_number(value: object) -> object:
    # A score is a JSON number: "21" and true are refused, while 21.0 is the integer 21
    # (JSON Schema's "integer" includes it); pydantic then refuses 21.5.
    if isinstance(value, bool | str):
        raise ValueError("a score is a number, not a string or a boolean")
    return value


Score = Annotated[int, BeforeValidator(_a_json_number)]


class NewAssessment(BaseModel):
    """An MMSE assessment to record. Unknown fields are refused (422): a misspelt
    ``assessed_at`` must not silently record the assessment as today's."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"mmse": 21, "assessed_at": "2026-03-14"}}
    )

    mmse: Score = Field(ge=0, le=30, description="MMSE score, 0–30 (lower is worse)")
    assessed_at: OptionalIsoDay = Field(
        # The range is the service's rule (check_assessment): OpenAPI cannot state a
        # bound on a date, and a bound only the validator knew would refuse input
        # the published schema allows.
        default=None,
        description="The day of the assessment, YYYY-MM-DD; default today (the server's "
        "date); neither in the future nor before 1900-01-01.",
    )


class RecorderOut(BaseModel):
    """Who recorded an assessment."""

    user_id: UserIdHex
    name: str


class AssessmentEntry(BaseModel):
    assessment_id: int
    mmse: int = Field(ge=0, le=30, description="MMSE score, 0–30 (lower is worse)")
    assessed_at: date = Field(description="The day of the assessment")
    recorded_by: RecorderOut | None = Field(
        description="The user who recorded it; null for generated histories, for a "
        "patient's first score given anonymously, and once that user is deleted."
    )
    recorded_at: datetime = Field(description="When it was recorded")


class AssessmentOut(AssessmentEntry):
    """A recorded assessment and whose it is."""

    patient: str = Field(description="The patient's name, as stored in the registry")


class HistoryOut(BaseModel):
    """A patient's assessments, oldest first; the last one is their current score."""

    patient: str = Field(description="The patient's name, as stored in the registry")
    assessments: list[AssessmentEntry]
