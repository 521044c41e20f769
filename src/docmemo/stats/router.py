"""/count_over/{mmse} and /count_under/{mmse}: public aggregates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from docmemo.db.models import MAX_AGE
from docmemo.stats import service
from docmemo.stats.schemas import CountOut
from docmemo.web.dependencies import refuse_unknown_query_parameters
from docmemo.web.reads import reads_of
from docmemo.web.schemas import error_responses

router = APIRouter(tags=["statistics"])

Mmse = Annotated[int, Path(ge=0, le=30, description="MMSE threshold, 0–30")]
MinAge = Annotated[int | None, Query(ge=0, le=MAX_AGE, description="Youngest age, inclusive")]
MaxAge = Annotated[int | None, Query(ge=0, le=MAX_AGE, description="Oldest age, inclusive")]
_BOUNDS = ("min_age", "max_age")
_RESPONSES = error_responses(e422="mmse outside 0–30, a negative age, or min_age > max_age")


# The busiest routes of all: no dependencies (web.reads.reads_of says why).
@router.get("/count_over/{mmse}", response_model=CountOut, responses=_RESPONSES)
async def count_over(
    request: Request, mmse: Mmse, min_age: MinAge = None, max_age: MaxAge = None
) -> CountOut:
    """Patients with an MMSE strictly over `mmse`, aged between the bounds inclusive."""
    refuse_unknown_query_parameters(request, _BOUNDS)
    query = service.count_query(service.Comparison.OVER, mmse, min_age, max_age)
    return CountOut(count=await reads_of(request).patient_counts(query))


@router.get("/count_under/{mmse}", response_model=CountOut, responses=_RESPONSES)
async def count_under(
    request: Request, mmse: Mmse, min_age: MinAge = None, max_age: MaxAge = None
) -> CountOut:
    """Patients with an MMSE strictly under `mmse`, aged between the bounds inclusive."""
    refuse_unknown_query_parameters(request, _BOUNDS)
    query = service.count_query(service.Comparison.UNDER, mmse, min_age, max_age)
    return CountOut(count=await reads_of(request).patient_counts(query))
