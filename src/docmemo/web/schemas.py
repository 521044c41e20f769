"""What the service's own pages answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from docmemo.auth.schemas import AuthStatus


class EndpointLink(BaseModel):
    method: str
    path: str
    summary: str


class ServiceInfo(BaseModel):
    service: str
    version: str
    docs: str
    endpoints: list[EndpointLink]


class DatabaseStatus(BaseModel):
    reachable: bool
    users: int | None = None
    patients: int | None = None
    caregivers: int | None = None
    healthpros: int | None = None


class HealthOut(BaseModel):
    status: Literal["alive", "ready"]


class StatusOut(BaseModel):
    service: str
    version: str
    database: DatabaseStatus
    authentication: AuthStatus


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error answer: a message; for invalid parameters, also which ones and why."""

    detail: str
    errors: list[FieldError] | None = None


def error_responses(**descriptions: str) -> dict[int | str, dict]:
    """OpenAPI entries for error statuses, e.g. error_responses(e404="No such user")."""
    return {
        int(code.removeprefix("e")): {"model": ErrorOut, "description": description}
        for code, description in descriptions.items()
    }
