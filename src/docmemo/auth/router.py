"""/login, /logout and /change_password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from psycopg_pool import AsyncConnectionPool

from docmemo.auth import service
from docmemo.auth.cookies import clear_session_cookie, set_session_cookie
from docmemo.auth.dependencies import (
    AppSettings,
    ClientAddress,
    LoggedInUser,
    SessionToken,
)
from docmemo.auth.passwords import MAX_PASSWORD_LENGTH
from docmemo.auth.schemas import LoginOut, LogoutOut, PasswordChangedOut
from docmemo.config import Settings
from docmemo.db.dependencies import DbConnection, DbPool
from docmemo.db.models import MAX_NAME_LENGTH
from docmemo.errors import InvalidInput
from docmemo.web.schemas import error_responses

router = APIRouter(tags=["auth"])

_FAILURE_RESPONSES = error_responses(
    e401="Unknown name or wrong password (the same answer for both)",
    e429="Too many failed logins for this account or from this address; see Retry-After",
)

LoginName = Annotated[str, Query(min_length=1, max_length=MAX_NAME_LENGTH)]
LoginPassword = Annotated[str, Query(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
# The same rules as a password given to /create_user.
FormPassword = Annotated[str, Form(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


async def _login(
    request: Request,
    response: Response,
    pool: AsyncConnectionPool,
    settings: Settings,
    previous_token: str | None,
    address: str | None,
    name: str,
    password: str,
) -> LoginOut:
    identity, token, expires_at = await service.login(
        pool, name, password, settings, previous_token, address
    )
    set_session_cookie(request, response, settings, token, expires_at)
    return LoginOut(user=identity, expires_at=expires_at, access_token=token)


@router.get("/login", response_model=LoginOut, responses=_FAILURE_RESPONSES)
async def login_with_query(
    request: Request,
    response: Response,
    pool: DbPool,
    settings: AppSettings,
    previous_token: SessionToken,
    address: ClientAddress,
    name: LoginName,
    password: LoginPassword,
) -> LoginOut:
    """Log in (name ignores case, password does not). Prefer POST /login: a password in
    a URL can end up in browser history; the service itself redacts it from its logs.
    A session presented here (cookie or bearer token) is ended: the login rotates it."""
    return await _login(request, response, pool, settings, previous_token, address, name, password)


@router.post("/login", response_model=LoginOut, responses=_FAILURE_RESPONSES)
async def login_with_form(
    request: Request,
    response: Response,
    pool: DbPool,
    settings: AppSettings,
    previous_token: SessionToken,
    address: ClientAddress,
    name: Annotated[str, Form(min_length=1, max_length=MAX_NAME_LENGTH)],
    password: FormPassword,
) -> LoginOut:
    """Log in with a form body (application/x-www-form-urlencoded)."""
    return await _login(request, response, pool, settings, previous_token, address, name, password)


@router.post("/logout", response_model=LogoutOut)
async def logout(
    request: Request,
    response: Response,
    db: DbConnection,
    settings: AppSettings,
    token: SessionToken,
) -> LogoutOut:
    """End the current session on the server and clear the cookie."""
    ended = await service.logout(db, token, settings)
    clear_session_cookie(request, response, settings)
    return LogoutOut(detail="Logged out" if ended else "No session to end")


async def _no_query_string(request: Request) -> None:
    if request.url.query:
        raise InvalidInput("This endpoint takes no query parameters: send the form body only")


@router.post(
    "/change_password",
    response_model=PasswordChangedOut,
    dependencies=[Depends(_no_query_string)],
    responses=error_responses(
        e401="Not logged in (or the session ended meanwhile)",
        e403="The current password is wrong (counts as a failed login)",
        e429="Too many failed logins for this account or from this address; see Retry-After",
    ),
)
async def change_password(
    request: Request,
    response: Response,
    pool: DbPool,
    settings: AppSettings,
    identity: LoggedInUser,
    token: SessionToken,
    address: ClientAddress,
    old_password: FormPassword,
    new_password: FormPassword,
) -> PasswordChangedOut:
    """Change the logged-in user's password (form body: ``old_password``,
    ``new_password``; never in the URL). Every session of the account ends, on every
    device; the caller gets a new session (cookie and ``access_token``) and stays
    logged in."""
    assert token is not None, "a logged-in identity comes from a token"
    new_token, expires_at = await service.change_password(
        pool, identity, token, old_password, new_password, settings, address
    )
    set_session_cookie(request, response, settings, new_token, expires_at)
    return PasswordChangedOut(user=identity, expires_at=expires_at, access_token=new_token)
