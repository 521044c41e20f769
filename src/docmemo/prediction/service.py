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
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import Connection, Engine, text

from docmemo.assessments.service import server_today
from docmemo.audit.service import record_event
from docmemo.db.models import AuditAction, Role
from docmemo.errors import NotFound
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
    return record, model.forecast(visits, record.age, today, months)


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
