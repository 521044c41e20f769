"""The cohort page: current MMSE by age band, and the API's over/under counts for a
threshold and an age range. Public, as the counts are (aggregates, SPEC §3).

A GET form, so the page works without JavaScript and its URL can be shared;
cohort.js asks /count_over and /count_under as the controls move.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from docmemo.clinic.cohort_chart import build_chart, severity_totals
from docmemo.clinic.dependencies import Viewer
from docmemo.clinic.forms import FormErrors, parse_int
from docmemo.clinic.templating import render
from docmemo.db.dependencies import DbConnection
from docmemo.db.models import MAX_AGE
from docmemo.errors import InvalidInput
from docmemo.stats import service

router = APIRouter()

# Under 24 is the usual screening cut-off for cognitive impairment (SPEC: 24-30 normal).
DEFAULT_THRESHOLD = 24
# The words of the stats service's rule (check_age_bounds) for a person; cohort.js
# shows the same sentence, which it reads from the page.
AGE_ORDER_MESSAGE = "The oldest age must not be below the youngest age."


@router.get("/cohort")
async def cohort_page(
    request: Request,
    viewer: Viewer,
    db: DbConnection,
    mmse: str | None = None,
    min_age: str | None = None,
    max_age: str | None = None,
) -> Response:
    errors = FormErrors()
    threshold = parse_int(
        mmse, "mmse", errors, label="MMSE threshold", minimum=0, maximum=30, required=False
    )
    youngest = parse_int(
        min_age, "min_age", errors, label="youngest age", minimum=0, maximum=MAX_AGE, required=False
    )
    oldest = parse_int(
        max_age, "max_age", errors, label="oldest age", minimum=0, maximum=MAX_AGE, required=False
    )
    try:
        service.check_age_bounds(youngest, oldest)
    except InvalidInput:
        errors.add("max_age", AGE_ORDER_MESSAGE)
    if threshold is None:
        threshold = DEFAULT_THRESHOLD

    over = under = None
    if not errors:
        over, under = await service.count_many(
            db,
            [
                service.count_query(comparison, threshold, youngest, oldest)
                for comparison in (service.Comparison.OVER, service.Comparison.UNDER)
            ],
        )
    bands = await service.mmse_by_age_band(db)
    # The chart fades nothing while the bounds are wrong: they select nothing yet.
    chart = build_chart(bands, threshold, *((None, None) if errors else (youngest, oldest)))
    root = request.scope.get("root_path", "")
    return render(
        request,
        "cohort.html",
        status_code=422 if errors else 200,
        active="cohort",
        errors=errors,
        threshold=threshold,
        # What was typed, given back to be corrected.
        min_age=(min_age or "").strip()[:12],
        max_age=(max_age or "").strip()[:12],
        youngest=None if errors else youngest,
        oldest=None if errors else oldest,
        over=over,
        under=under,
        bands=bands,
        chart=chart,
        max_age_allowed=MAX_AGE,
        count_over_url=f"{root}/count_over/",
        count_under_url=f"{root}/count_under/",
        age_order_message=AGE_ORDER_MESSAGE,
        severities=service.SEVERITIES,
        severity_totals=severity_totals(bands),
    )
