"""Predicting a patient's MMSE, and storing and reading progression models; all their SQL.

Which model is served: the row of ``progression_models`` with the latest ``fitted_at``,
so that every API replica serves the same one. Each prediction reads the id of that
row in the same statement as the patient's visits, and a process keeps the model of
the id it last saw: a newly fitted model is served from the next request on, by every
replica, without a restart. With no row (a registry whose model has not been fitted
yet, or too small to fit one) the answer comes from ``population-course-1.0``, the
first version's published average course, named by its version: never an error. A
stored row this code cannot read (written by a newer version, say) is logged and
treated the same way.

The API's half (async, psycopg) imports no numpy/statsmodels; the command line's half
(sync, SQLAlchemy) moves histories and fitted parameters in and out of the database.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import Connection, Engine, text

from docmemo.assessments.service import server_today
from docmemo.audit.service import record_event
from docmemo.db.models import AuditAction, Role
from docmemo.errors import NotFound
from docmemo.prediction.model import HORIZON_MAX_MONTHS, HORIZON_MIN_MONTHS, Interval
from docmemo.prediction.progression import (
    POPULATION_COURSE,
    Forecast,
    Forecaster,
    LmeModel,
    LmeParameters,
    PatientHistory,
    Visit,
)
from docmemo.users.names import clean_name
from docmemo.users.service import UserRecord, find_record

log = logging.getLogger(__name__)

# Key of the advisory lock that serialises fits ("docmemo-fit" would not fit in 63 bits).
FIT_LOCK_KEY = 0x646D2D666974  # "dm-fit"

# --- the API -------------------------------------------------------------------------

_HISTORY_AND_MODEL = """
    SELECT m.model_id, m.version, h.dates, h.scores
    FROM (SELECT array_agg(assessed_at ORDER BY assessed_at, assessment_id) AS dates,
                 array_agg(mmse ORDER BY assessed_at, assessment_id) AS scores
          FROM assessments WHERE patient_id = %(patient_id)s) AS h
    LEFT JOIN LATERAL (SELECT model_id, version FROM progression_models
                       ORDER BY fitted_at DESC, model_id DESC LIMIT 1) AS m ON true
"""
_MODEL_ROW = """
    SELECT version, fitted_at, parameters FROM progression_models WHERE model_id = %(model_id)s
"""


@dataclass(slots=True)
class _ServedModel:
    """The model of the latest row this process has seen, by id and version."""

    key: tuple[int, str] | None = None
    model: Forecaster = POPULATION_COURSE


_served = _ServedModel()


def model_from_row(version: str, fitted_at: datetime.datetime, parameters: Any) -> Forecaster:
    """The model of a ``progression_models`` row (ValueError if it cannot be read)."""
    if isinstance(parameters, str):
        parameters = json.loads(parameters)
    if not isinstance(parameters, dict):
        raise ValueError("the parameters are not a JSON object")
    return LmeModel(LmeParameters.from_json(parameters), version, fitted_at)


async def _current_model(
    db: AsyncConnection, model_id: int | None, version: str | None
) -> Forecaster:
    if model_id is None or version is None:
        return POPULATION_COURSE
    if _served.key == (model_id, version):
        return _served.model
    row = await (await db.execute(_MODEL_ROW, {"model_id": model_id})).fetchone()
    if row is None:  # deleted since the first statement: the next request will see
        return POPULATION_COURSE
    try:
        model = model_from_row(row.version, row.fitted_at, row.parameters)
    except ValueError as error:
        log.error(
            "Progression model %s cannot be read (%s); serving %s",
            row.version,
            error,
            POPULATION_COURSE.version,
        )
        model = POPULATION_COURSE
    _served.key, _served.model = (model_id, version), model
    return model


@dataclass(frozen=True, slots=True)
class _PatientForPrediction:
    """What every prediction starts from: the patient, their visits and the model."""

    record: UserRecord
    age: int
    visits: list[Visit]
    model: Forecaster
    today: datetime.date


async def _patient_for_prediction(
    db: AsyncConnection, raw_name: str, predictor_id: str, address: str | None
) -> _PatientForPrediction:
    """The patient of this name, their visits (oldest first) and the served model, the
    prediction audited once in the same transaction. NotFound for an unknown name or
    someone not a patient."""
    async with db.transaction():
        record = await find_record(db, clean_name(raw_name))
        if record is None or record.status is not Role.PATIENT:
            raise NotFound("No such patient")
        assert record.mmse is not None
        assert record.age is not None
        row = await (
            await db.execute(_HISTORY_AND_MODEL, {"patient_id": record.user_id})
        ).fetchone()
        model = await _current_model(db, row.model_id, row.version)
        await record_event(
            db,
            actor_id=predictor_id,
            subject_id=record.user_id,
            action=AuditAction.PREDICT,
            address=address,
        )
    today = server_today()
    visits = [Visit(d, s) for d, s in zip(row.dates or [], row.scores or [], strict=True)]
    if not visits:  # every patient has an assessment (migration 0004); be safe anyway
        visits = [Visit(today, record.mmse)]
    return _PatientForPrediction(record, record.age, visits, model, today)


async def predict_for_patient(
    db: AsyncConnection,
    raw_name: str,
    months: int,
    *,
    predictor_id: str,
    address: str | None = None,
) -> tuple[UserRecord, Forecast]:
    """The patient of this name and the served model's prediction ``months`` ahead,
    from their own visits. NotFound for an unknown name or someone not a patient.
    Audited in the same transaction (by ``predictor_id``, from ``address``)."""
    patient = await _patient_for_prediction(db, raw_name, predictor_id, address)
    forecast = patient.model.forecast(patient.visits, patient.age, patient.today, months)
    return patient.record, forecast


@dataclass(frozen=True, slots=True)
class CoursePoint:
    """The predicted score observed on one day, with its 80 % and 95 % intervals."""

    on: datetime.date
    predicted_mmse: float
    interval_80: Interval
    interval_95: Interval


@dataclass(frozen=True, slots=True)
class PredictedCourse:
    """A patient's predicted course, as a chart draws it: from the last visit (``start``)
    to each horizon of ``ahead`` (months counted from today, as the API counts them)."""

    model_version: str
    model_fitted_at: datetime.datetime | None
    start: CoursePoint
    ahead: list[Forecast]

    def at(self, months: int) -> Forecast | None:
        """The forecast ``months`` ahead, if that horizon was asked for."""
        return next((f for f in self.ahead if f.horizon_months == months), None)


async def predict_course(
    db: AsyncConnection,
    raw_name: str,
    months: Sequence[int],
    *,
    predictor_id: str,
    address: str | None = None,
) -> tuple[UserRecord, PredictedCourse]:
    """The patient of this name and the served model's course: its prediction on the
    day of the last visit, then at each of ``months`` (1..60, from today), from one
    reading of the visits and the model, audited once (``predict``, by
    ``predictor_id`` from ``address``). NotFound as predict_for_patient; ValueError
    for a horizon outside 1..60 or none at all, before anything is read."""
    horizons = sorted(set(months))
    if not horizons or not all(HORIZON_MIN_MONTHS <= m <= HORIZON_MAX_MONTHS for m in horizons):
        raise ValueError(f"horizons must be between 1 and 60 months, got {list(months)}")
    patient = await _patient_for_prediction(db, raw_name, predictor_id, address)
    visits, model, age = patient.visits, patient.model, patient.age
    last = visits[-1]
    mean, interval_80, interval_95 = model.predict_at(visits, age, last.assessed_at)
    course = PredictedCourse(
        model_version=model.version,
        model_fitted_at=model.fitted_at,
        start=CoursePoint(last.assessed_at, round(mean, 1), interval_80, interval_95),
        ahead=[model.forecast(visits, age, patient.today, m) for m in horizons],
    )
    return patient.record, course


# --- the command line ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A row of ``progression_models``, as the command line reports it."""

    model_id: int
    version: str
    fitted_at: datetime.datetime
    n_patients: int
    n_assessments: int
    parameters: dict[str, Any]
    evaluation: dict[str, Any] | None


_LATEST_MODEL = text("""
    SELECT model_id, version, fitted_at, n_patients, n_assessments, parameters, evaluation
    FROM progression_models ORDER BY fitted_at DESC, model_id DESC LIMIT 1
""")
_INSERT_MODEL = text("""
    INSERT INTO progression_models
        (version, fitted_at, parameters, evaluation, n_patients, n_assessments)
    VALUES (:version, :fitted_at, CAST(:parameters AS jsonb), CAST(:evaluation AS jsonb),
            :n_patients, :n_assessments)
    RETURNING model_id, version, fitted_at, n_patients, n_assessments, parameters, evaluation
""")
_ADD_EVALUATION = text("""
    UPDATE progression_models
    SET evaluation = coalesce(evaluation, '{}'::jsonb) || CAST(:evaluation AS jsonb)
    WHERE model_id = :model_id
""")
# Patients with two assessments or more (OFFSET 1: a second row exists), in an order
# that is random but the same for the same salt and data, then their histories.
_SAMPLE_HISTORIES = text("""
    WITH sample AS (
        SELECT p.user_id, p.age FROM patients p
        WHERE EXISTS (SELECT 1 FROM assessments a WHERE a.patient_id = p.user_id OFFSET 1)
        ORDER BY md5(p.user_id || :salt) LIMIT :limit
    )
    SELECT s.user_id, s.age, a.assessed_at, a.mmse
    FROM sample s JOIN assessments a ON a.patient_id = s.user_id
    ORDER BY s.user_id, a.assessed_at, a.assessment_id
""")
_COUNTS = text("""
    SELECT (SELECT count(*) FROM patients) AS patients,
           (SELECT count(*) FROM assessments) AS assessments
""")


def _stored(row: Any) -> StoredModel:
    return StoredModel(
        model_id=row.model_id,
        version=row.version,
        fitted_at=row.fitted_at,
        n_patients=row.n_patients,
        n_assessments=row.n_assessments,
        parameters=row.parameters,
        evaluation=row.evaluation,
    )


def latest_model(conn: Connection) -> StoredModel | None:
    """The model served (latest ``fitted_at``), or None."""
    row = conn.execute(_LATEST_MODEL).one_or_none()
    return None if row is None else _stored(row)


def lock_fits(conn: Connection) -> None:
    """Serialise fits until the end of the transaction: of several processes fitting
    "if missing" at once, one fits and the others then find its model."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FIT_LOCK_KEY})


def registry_counts(conn: Connection) -> tuple[int, int]:
    """(patients, assessments) in the registry."""
    row = conn.execute(_COUNTS).one()
    return row.patients, row.assessments


def sample_histories(conn: Connection, limit: int, salt: str) -> list[PatientHistory]:
    """At most ``limit`` patients with two visits or more, a random sample drawn by
    ``salt`` (the same salt and data give the same sample), with their visits."""
    histories: list[PatientHistory] = []
    rows = conn.execute(_SAMPLE_HISTORIES, {"limit": limit, "salt": salt})
    for row in rows:
        if not histories or histories[-1].patient_id != row.user_id:
            histories.append(PatientHistory(row.user_id, row.age, []))
        histories[-1].visits.append(Visit(row.assessed_at, row.mmse))
    return histories


def store_model(
    conn: Connection,
    version: str,
    fitted_at: datetime.datetime,
    parameters: LmeParameters,
    evaluation: dict[str, Any] | None,
    n_patients: int,
    n_assessments: int,
) -> StoredModel:
    """Insert a fitted model; it is served from the commit on."""
    row = conn.execute(
        _INSERT_MODEL,
        {
            "version": version,
            "fitted_at": fitted_at,
            "parameters": json.dumps(parameters.to_json()),
            "evaluation": None if evaluation is None else json.dumps(evaluation),
            "n_patients": n_patients,
            "n_assessments": n_assessments,
        },
    ).one()
    return _stored(row)


def add_evaluation(conn: Connection, model_id: int, evaluation: dict[str, Any]) -> None:
    """Merge these top-level keys into a stored model's evaluation figures."""
    conn.execute(_ADD_EVALUATION, {"model_id": model_id, "evaluation": json.dumps(evaluation)})


def has_model(engine: Engine) -> bool:
    with engine.connect() as conn:
        return latest_model(conn) is not None
