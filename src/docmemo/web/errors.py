"""One place maps errors to HTTP answers: JSON ``{"detail": ...}``, never a stack trace.

Under the web app's prefix (``/app``) the same errors are answered as pages, by the
renderer the app registers (``ErrorPages``): a person reads them, not a program.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import psycopg
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from docmemo.db.engine import DATABASE_UNAVAILABLE_ERRORS
from docmemo.errors import DatabaseUnavailable, DomainError
from docmemo.web.schemas import ErrorOut, FieldError

log = logging.getLogger(__name__)

# (request, status code, message, headers) -> the page that explains the error.
ErrorPageRenderer = Callable[[Request, int, str, Mapping[str, str] | None], Awaitable[Response]]


@dataclass(frozen=True)
class ErrorPages:
    """Errors of requests under ``prefix`` are answered by ``render`` instead of JSON."""

    prefix: str
    render: ErrorPageRenderer

    def applies_to(self, request: Request) -> bool:
        path = request.url.path
        return path == self.prefix or path.startswith(self.prefix + "/")


def _pages_for(request: Request) -> ErrorPages | None:
    pages: ErrorPages | None = getattr(request.app.state, "error_pages", None)
    return pages if pages is not None and pages.applies_to(request) else None


async def _error_answer(
    request: Request,
    status_code: int,
    body: ErrorOut,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if pages := _pages_for(request):
        return await pages.render(request, status_code, body.detail, headers)
    return JSONResponse(body.model_dump(exclude_none=True), status_code, headers=headers)


async def domain_error(request: Request, error: DomainError) -> Response:
    return await _error_answer(
        request, error.status_code, ErrorOut(detail=error.detail), error.headers
    )


async def validation_error(request: Request, error: RequestValidationError) -> Response:
    # A readable message plus the fields, never echoing the input (it may be a password).
    fields = [
        FieldError(
            loc=list(item.get("loc", ())), msg=item.get("msg", ""), type=item.get("type", "")
        )
        for item in error.errors()
    ]
    message = "; ".join(
        f"{field.loc[-1] if field.loc else 'request'}: {field.msg}" for field in fields
    )
    body = ErrorOut(detail=message or "Invalid request", errors=fields)
    return await _error_answer(request, 422, body)


async def database_unavailable(request: Request, error: Exception) -> Response:
    log.warning("database unavailable: %s", type(error).__name__)
    return await domain_error(request, DatabaseUnavailable())


async def data_error(request: Request, error: psycopg.DataError) -> Response:
    # Input that got past validation but that PostgreSQL refuses: still the client's.
    log.warning("value refused by the database: %s", type(error).__name__)
    return await _error_answer(request, 422, ErrorOut(detail="A value was refused by the database"))


_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods that some route serves at this request's path. Asked of the routes
    themselves, method by method: FastAPI nests the routes of included routers."""

    def served(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)

    return [method for method in _HTTP_METHODS if served(method)]


async def http_error(request: Request, error: HTTPException) -> Response:
    if error.status_code == 405:
        # Starlette's Allow names only the methods of the first route whose path matched;
        # a path served by several routes (GET and POST /login) allows all of theirs.
        allow = ", ".join(allowed_methods(request))
        error = HTTPException(405, error.detail, headers={**(error.headers or {}), "Allow": allow})
    if _pages_for(request):
        return await _error_answer(
            request, error.status_code, ErrorOut(detail=error.detail), error.headers
        )
    return await http_exception_handler(request, error)


async def unexpected_error(request: Request, error: Exception) -> Response:
    log.exception("unexpected error", exc_info=error)
    return await _error_answer(request, 500, ErrorOut(detail="Internal server error"))


def install_error_handlers(app: FastAPI, pages: ErrorPages | None = None) -> None:
    app.state.error_pages = pages
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(psycopg.DataError, data_error)
    for error_type in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_type, database_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
