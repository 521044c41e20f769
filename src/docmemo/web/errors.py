"""One place maps errors to HTTP answers: JSON ``{"detail": ...}``, never a stack trace."""

from __future__ import annotations

import logging

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


async def domain_error(_: Request, error: DomainError) -> JSONResponse:
    body = ErrorOut(detail=error.detail).model_dump(exclude_none=True)
    return JSONResponse(body, error.status_code, headers=error.headers)


async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
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
    return JSONResponse(body.model_dump(), 422)


async def database_unavailable(_: Request, error: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(error).__name__)
    return await domain_error(_, DatabaseUnavailable())


async def data_error(_: Request, error: psycopg.DataError) -> JSONResponse:
    # Input that got past validation but that PostgreSQL refuses: still the client's.
    log.warning("value refused by the database: %s", type(error).__name__)
    return JSONResponse({"detail": "A value was refused by the database"}, 422)


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
    return await http_exception_handler(request, error)


async def unexpected_error(_: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=error)
    return JSONResponse({"detail": "Internal server error"}, 500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(psycopg.DataError, data_error)
    for error_type in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_type, database_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
