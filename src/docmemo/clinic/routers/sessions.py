"""Signing in and out, with the API's sessions, throttling and generic failure message."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from docmemo.auth import service as auth_service
from docmemo.auth.cookies import clear_session_cookie, set_session_cookie
from docmemo.auth.dependencies import AppSettings, ClientAddress, SessionToken
from docmemo.auth.passwords import MAX_PASSWORD_LENGTH
from docmemo.clinic.dependencies import Viewer
from docmemo.clinic.templating import app_url, redirect, render
from docmemo.db.dependencies import DbConnection, DbPool
from docmemo.db.models import MAX_NAME_LENGTH
from docmemo.errors import InvalidCredentials, TooManyAttempts

router = APIRouter()


def safe_next_path(request: Request, next_path: str | None) -> str:
    """Where to go after signing in: a page of this app only, never another site."""
    home = app_url(request)
    next_path = next_path or ""
    inside = next_path == home or next_path.startswith((home + "/", home + "?"))
    if inside and "//" not in next_path and "\\" not in next_path:
        return next_path
    return home


@router.get("/sign-in")
async def sign_in_page(
    request: Request, viewer: Viewer, next: str | None = None, signed_out: bool = False
) -> Response:
    return render(
        request,
        "sign_in.html",
        next_path=safe_next_path(request, next),
        signed_out=signed_out,
        name="",
    )


@router.post("/sign-in")
async def sign_in(
    request: Request,
    pool: DbPool,
    settings: AppSettings,
    viewer: Viewer,
    previous_token: SessionToken,
    address: ClientAddress,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    next_path = safe_next_path(request, next)

    def form_again(status_code: int, message: str) -> Response:
        # The name is given back, the password never.
        return render(
            request,
            "sign_in.html",
            status_code=status_code,
            next_path=next_path,
            name=name[:MAX_NAME_LENGTH],
            error=message,
        )

    if not name.strip() or not password:
        return form_again(422, "Enter your name and your password.")
    try:
        if len(name) > MAX_NAME_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidCredentials()
        identity, token, expires_at = await auth_service.login(
            pool, name, password, settings, previous_token, address
        )
    except TooManyAttempts as refused:
        return form_again(
            429,
            f"Too many failed attempts. Wait {refused.retry_after_s} seconds before trying again.",
        )
    except InvalidCredentials:
        return form_again(401, "The name or the password is not right.")
    request.state.viewer = identity
    response = redirect(request, next_path.removeprefix(app_url(request)))
    set_session_cookie(request, response, settings, token, expires_at)
    return response


@router.post("/sign-out")
async def sign_out(
    request: Request, db: DbConnection, settings: AppSettings, token: SessionToken
) -> Response:
    await auth_service.logout(db, token, settings)
    response = redirect(request, "/sign-in?signed_out=true")
    clear_session_cookie(request, response, settings)
    return response
