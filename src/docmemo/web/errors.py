"""One place maps errors to HTTP answers: JSON ``{"detail": ...}``, never a stack trace."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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


async def unexpected_error(_: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=error)
    return JSONResponse({"detail": "Internal server error"}, 500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(psycopg.DataError, data_error)
    for error_type in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_type, database_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
