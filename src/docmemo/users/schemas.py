"""What the users endpoints take and answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from docmemo.db.models import Role, Specialty

UserIdHex = Annotated[
    str, Field(pattern="^[0-9a-f]{32}$", examples=["3f2b8c0e9d4a4b6e8f1a2c3d4e5f6a7b"])
]


class NewUser(BaseModel):
    """A creation request, after HTTP parsing; role rules are checked by the service."""

    status: Role
    password: str
    age: int | None = None
    mmse: int | None = None
    caregiver_id: str | None = None
    specialty: Specialty | None = None


class PatientOut(BaseModel):
    user_id: UserIdHex
    name: str
    status: Literal["patient"] = "patient"
    age: int
    mmse: int = Field(description="Latest MMSE score, 0–30 (lower is worse)")
    caregiver_id: UserIdHex | None


class CaregiverOut(BaseModel):
    user_id: UserIdHex
    name: str
    status: Literal["caregiver"] = "caregiver"


class HealthProOut(BaseModel):
    user_id: UserIdHex
    name: str
    status: Literal["healthpro"] = "healthpro"
    specialty: Specialty


UserOut = Annotated[PatientOut | CaregiverOut | HealthProOut, Field(discriminator="status")]
