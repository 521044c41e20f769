"""Who is calling, and what login answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from docmemo.db.models import Role, Specialty


class Identity(BaseModel, frozen=True):
    """The logged-in user behind a request."""

    user_id: str
    name: str
    status: Role
    specialty: Specialty | None = None

    @property
    def is_healthpro(self) -> bool:
        return self.status is Role.HEALTHPRO

    @property
    def is_neurologist(self) -> bool:
        return self.is_healthpro and self.specialty is Specialty.NEUROLOGIST


class LoginOut(BaseModel):
    detail: str = "Logged in"
    user: Identity
    expires_at: datetime
    access_token: str = Field(
        description="The session token, also set as an HttpOnly cookie. Scripts may send it "
        "as 'Authorization: Bearer <token>' instead of the cookie."
    )
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


class PasswordChangedOut(LoginOut):
    detail: str = (
        "Password changed; every session of this account has ended, "
        "and this new session replaces the caller's"
    )


class LogoutOut(BaseModel):
    detail: str


class AuthStatus(BaseModel):
    logged_in: bool
    user_id: str | None = None
    name: str | None = None
    status: Role | None = None
    specialty: Specialty | None = None
