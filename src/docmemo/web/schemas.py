"""What the service's own pages answer."""

from __future__ import annotations

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


class StatusOut(BaseModel):
    service: str
    version: str
    database: DatabaseStatus
    authentication: AuthStatus
