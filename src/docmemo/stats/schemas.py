"""What the statistics endpoints answer."""

from __future__ import annotations

from pydantic import BaseModel


class CountOut(BaseModel):
    count: int


class RegistryCounts(BaseModel):
    users: int
    patients: int
    caregivers: int
    healthpros: int
