"""HTTP-level checks shared by routers."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from docmemo.errors import InvalidInput


def refuse_unknown_query_parameters(request: Request, accepted: tuple[str, ...]) -> None:
    """Refuse (422) a query parameter the route does not take: a misspelt ``min_age``
    must not silently give a count without its bound. (A plain function for the
    busiest routes, as ``web.reads.reads_of``; the others take only_query_parameters.)"""
    if any(key not in accepted for key in request.query_params):
        raise InvalidInput(f"unknown query parameter; this endpoint takes: {', '.join(accepted)}")


def only_query_parameters(*accepted: str) -> Any:
    """refuse_unknown_query_parameters as a route's dependency."""

    async def check(request: Request) -> None:
        refuse_unknown_query_parameters(request, accepted)

    # Dependencies are async, even without anything to await: FastAPI runs a plain
    # function in a worker thread, a hand-off that costs more than the check itself.
    return Depends(check)
