"""Rendering pages: the templates, the static files, and what every page is given."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.staticfiles import StaticFiles

from docmemo.auth.schemas import Identity
from docmemo.db.engine import DATABASE_UNAVAILABLE_ERRORS

WEB_APP_PREFIX = "/app"
STATIC_PATH = f"{WEB_APP_PREFIX}/static"
_PACKAGE_DIR = Path(__file__).resolve().parent

templates = Jinja2Templates(directory=_PACKAGE_DIR / "templates")


def app_url(request: Request, path: str = "") -> str:
    """A path of the web app as the browser must ask for it (behind a proxy's root path)."""
    return f"{request.scope.get('root_path', '')}{WEB_APP_PREFIX}{path}"


def static_url(request: Request, path: str) -> str:
    return app_url(request, f"/static/{path}")


def viewer_of(request: Request) -> Identity | None:
    """Who is signed in, as the page's dependency found (None on an error page reached
    before any dependency ran)."""
    return getattr(request.state, "viewer", None)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {
            "viewer": viewer_of(request),
            "app_url": lambda path="": app_url(request, path),
            "static_url": lambda path: static_url(request, path),
            **context,
        },
        status_code=status_code,
    )


def redirect(request: Request, path: str) -> RedirectResponse:
    """After a form is handled: 303, so that reloading the next page posts nothing."""
    return RedirectResponse(app_url(request, path), status_code=303)


_ERROR_TITLES = {
    400: "This request could not be read",
    403: "This page is not for your role",
    404: "Not found",
    405: "Not available here",
    409: "Already exists",
    422: "Some values are not valid",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "The registry is unavailable",
}
_ERROR_ADVICE = {
    403: "Your role may not do this. Ask a health professional of the clinic if you need it done.",
    404: "There is nothing here by that name, or it is not something you may see. "
    "Check the spelling, or search again.",
    429: "For everyone's safety, sign-ins are slowed down after repeated failures. "
    "Wait a little and try again.",
    500: "The error has been logged. Try again; if it persists, tell the clinic's IT.",
    503: "The database does not answer just now. Nothing was changed; try again in a few moments.",
}


async def _viewer_for_error_page(request: Request) -> Identity | None:
    """Who is signed in, for the header of an error page reached before the page's own
    dependency ran (an unknown path, say); nobody if the database cannot tell."""
    if hasattr(request.state, "viewer"):
        return request.state.viewer
    settings = request.app.state.settings
    token = request.cookies.get(settings.session_cookie_name)
    if not token:
        return None
    try:
        return await request.app.state.reads.identities(token)
    except DATABASE_UNAVAILABLE_ERRORS:
        return None


async def error_page(
    request: Request, status_code: int, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    """The page of an error under /app. Not signed in where a page needs it: to the
    sign-in page, which comes back here afterwards."""
    if status_code == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        next_path = target if request.method == "GET" else app_url(request)
        return RedirectResponse(
            app_url(request, f"/sign-in?next={quote(next_path, safe='/')}"), status_code=303
        )
    viewer = request.state.viewer = await _viewer_for_error_page(request)
    advice = _ERROR_ADVICE.get(status_code, "")
    if status_code == 403 and viewer is None:
        advice = "You are not signed in: sign in first, if your role allows it."
    response = render(
        request,
        "error.html",
        status_code=status_code,
        title=_ERROR_TITLES.get(status_code, "This request could not be handled"),
        detail=detail,
        advice=advice,
    )
    if headers:
        response.headers.update(headers)
    return response


class StaticAssets(StaticFiles):
    """The package's assets, revalidated by ETag (``no-cache``) rather than ``no-store``:
    they hold no personal data."""

    def __init__(self) -> None:
        super().__init__(directory=_PACKAGE_DIR / "static")

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "no-cache"
        return response
