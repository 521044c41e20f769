"""HTTP-level checks shared by routers."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from docmemo.errors import InvalidInput


def only_query_parameters(*accepted: str) -> Any:
    """Refuse (422) a query parameter the route does not take: a misspelt ``min_age``
    must not silently give a count without its bound."""
    accepted_set = frozenset(accepted)
    listing = ", ".join(accepted)

    async def check(request: Request) -> None:
        if not accepted_set.issuperset(request.query_params.keys()):
            raise InvalidInput(f"unknown query parameter; this endpoint takes: {listing}")

    # Dependencies are async, even without anything to await: FastAPI runs a plain
    # function in a worker thread, a hand-off that costs more than the check itself.
    return Depends(check)
