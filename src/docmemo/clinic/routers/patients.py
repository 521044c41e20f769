"""A patient's page: details, caregiver, the MMSE history as a chart and a table, the
model's predicted course for neurologists, and recording an assessment for health
professionals."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from psycopg import AsyncConnection

from docmemo.assessments import service as assessments
from docmemo.auth.dependencies import ClientAddress
from docmemo.auth.schemas import Identity
from docmemo.clinic import charts
from docmemo.clinic.dependencies import SignedIn
from docmemo.clinic.forms import FormErrors, parse_int
from docmemo.clinic.templating import redirect, render
from docmemo.db.dependencies import DbConnection
from docmemo.db.models import EARLIEST_ASSESSMENT
from docmemo.errors import Forbidden, InvalidInput
from docmemo.prediction import service as prediction

router = APIRouter()

PatientName = Annotated[str, Path(description="The patient's name; case is ignored")]

# The predicted course is drawn to two years ahead; its text gives the API's default
# horizon, one year. Months are counted from today, as /predict_patient counts them.
HORIZONS_MONTHS = (3, 6, 12, 18, 24)
HEADLINE_MONTHS = 12
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _parse_day(raw: str, name: str, errors: FormErrors) -> date | None:
    """The day an ``<input type="date">`` sends (YYYY-MM-DD); a browser without a date
    picker lets people type anything."""
    text = raw.strip()
    if not text:
        errors.add(name, "Enter the date of the assessment.")
        return None
    try:
        if not _ISO_DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        errors.add(name, "Enter the date as year-month-day, like 2026-03-14.")
        return None


async def _patient_page(
    request: Request,
    db: AsyncConnection,
    viewer: Identity,
    address: str | None,
    name: str,
    *,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    recorded_id: str | None = None,
) -> Response:
    record, history = await assessments.read_history(db, viewer, name, address)
    caregiver = await assessments.caregiver_of(db, viewer, record)
    visits = [charts.Visit(a.assessed_at, a.mmse) for a in history]
    course = None
    if viewer.is_neurologist:  # nobody else's page computes (nor audits) a prediction
        _, course = await prediction.predict_course(
            db, record.name, HORIZONS_MONTHS, predictor_id=viewer.user_id, address=address
        )
    predicted = None
    if course is not None:
        predicted = [
            charts.PredictionPoint(
                course.start.on,
                course.start.predicted_mmse,
                *course.start.interval_80,
                *course.start.interval_95,
            ),
            *(
                charts.PredictionPoint(
                    f.target_date, f.predicted_mmse, *f.interval_80, *f.interval_95
                )
                for f in course.ahead
            ),
        ]
    recorded = next((a for a in history if str(a.assessment_id) == recorded_id), None)
    today = assessments.server_today()
    return render(
        request,
        "patient.html",
        status_code=status_code,
        active="search",
        patient=record,
        band=charts.band_of(record.mmse) if record.mmse is not None else None,
        caregiver=caregiver,
        history=history,
        chart=charts.history_chart(visits, predicted) if visits else None,
        summary=charts.describe_history(visits),
        course=course,
        headline=course.at(HEADLINE_MONTHS) if course else None,
        band_of=charts.band_of,
        bands=charts.BANDS,
        format_day=charts.format_day,
        n=charts.svg_number,
        recorded=recorded,
        may_record=assessments.can_record(viewer),
        form=form or {"mmse": "", "assessed_at": today.isoformat()},
        errors=errors or FormErrors(),
        today=today,
        earliest=EARLIEST_ASSESSMENT,
        patient_path=f"/patients/{quote(record.name, safe='')}",
    )


@router.get("/patients/{name}")
async def patient_page(
    request: Request,
    db: DbConnection,
    viewer: SignedIn,
    address: ClientAddress,
    name: PatientName,
    recorded: str | None = None,
) -> Response:
    return await _patient_page(request, db, viewer, address, name, recorded_id=recorded)


@router.post("/patients/{name}/assessments")
async def record_assessment(
    request: Request,
    db: DbConnection,
    viewer: SignedIn,
    address: ClientAddress,
    name: PatientName,
    mmse: Annotated[str, Form()] = "",
    assessed_at: Annotated[str, Form()] = "",
) -> Response:
    if not assessments.can_record(viewer):
        raise Forbidden("Only health professionals may record an assessment.")
    errors = FormErrors()
    score = parse_int(mmse, "mmse", errors, label="MMSE score", minimum=0, maximum=30)
    day = _parse_day(assessed_at, "assessed_at", errors)
    if not errors:
        assert score is not None
        assert day is not None
        try:
            patient, assessment = await assessments.record_assessment(
                db, viewer, name, score, day, address
            )
        except InvalidInput as refused:
            errors.add_refusal(refused)
        else:
            path = f"/patients/{quote(patient.name, safe='')}?recorded={assessment.assessment_id}"
            return redirect(request, path)
    # Given back as typed (bounded: it is only shown again), nothing written.
    form = {"mmse": mmse[:20], "assessed_at": assessed_at[:20]}
    return await _patient_page(
        request, db, viewer, address, name, status_code=422, form=form, errors=errors
    )
