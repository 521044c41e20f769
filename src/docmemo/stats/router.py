"""/count_over/{mmse} and /count_under/{mmse}: public aggregates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from docmemo.db.models import MAX_AGE
from docmemo.stats import service
from docmemo.stats.schemas import CountOut
from docmemo.web.dependencies import only_query_parameters
from docmemo.web.reads import Reads
from docmemo.web.schemas import error_responses

router = APIRouter(tags=["statistics"])

Mmse = Annotated[int, Path(ge=0, le=30, description="MMSE threshold, 0–30")]
MinAge = Annotated[int | None, Query(ge=0, le=MAX_AGE, description="Youngest age, inclusive")]
MaxAge = Annotated[int | None, Query(ge=0, le=MAX_AGE, description="Oldest age, inclusive")]
_BOUNDS_ONLY = only_query_parameters("min_age", "max_age")
_RESPONSES = error_responses(e422="mmse outside 0–30, a negative age, or min_age > max_age")


@router.get(
    "/count_over/{mmse}", response_model=CountOut, responses=_RESPONSES, dependencies=[_BOUNDS_ONLY]
)
async def count_over(
    reads: Reads, mmse: Mmse, min_age: MinAge = None, max_age: MaxAge = None
) -> CountOut:
    """Patients with an MMSE strictly over `mmse`, aged between the bounds inclusive."""
    query = service.count_query(service.Comparison.OVER, mmse, min_age, max_age)
    return CountOut(count=await reads.patient_counts(query))


@router.get(
    "/count_under/{mmse}",
    response_model=CountOut,
    responses=_RESPONSES,
    dependencies=[_BOUNDS_ONLY],
)
async def count_under(
    reads: Reads, mmse: Mmse, min_age: MinAge = None, max_age: MaxAge = None
) -> CountOut:
    """Patients with an MMSE strictly under `mmse`, aged between the bounds inclusive."""
    query = service.count_query(service.Comparison.UNDER, mmse, min_age, max_age)
    return CountOut(count=await reads.patient_counts(query))
