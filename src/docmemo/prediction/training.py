"""Fitting and evaluating on the registry's histories: what ``docmemo fit-model`` and
``docmemo evaluate-model`` do (command line only: this module imports statsmodels).

Reading: at most ``fit_patients + calibration_patients`` patients with two visits or
more (8,000 by default) for a fit, and at most ``evaluation_patients`` (20,000) for an
evaluation, drawn at random in the database (``service.sample_histories``), so time
and memory are bounded at any registry size: at 1,000,000 users (about 520,000 such
patients) the fit reads 8,000 histories, not 2.7 million assessments.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from docmemo.prediction import service
from docmemo.prediction.evaluation import EvaluationReport, evaluate
from docmemo.prediction.fitting import (
    DEFAULT_CALIBRATION_PATIENTS,
    DEFAULT_FIT_PATIENTS,
    FitResult,
    fit,
    version_for,
)

DEFAULT_EVALUATION_PATIENTS = 20_000

Step = Callable[[str], None]


def _no_step(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class FitOutcome:
    stored: service.StoredModel
    result: FitResult
    registry_patients: int
    registry_assessments: int


def fit_and_store(
    engine: Engine,
    *,
    if_missing: bool = False,
    seed: int = 0,
    fit_patients: int = DEFAULT_FIT_PATIENTS,
    calibration_patients: int = DEFAULT_CALIBRATION_PATIENTS,
    step: Step = _no_step,
) -> FitOutcome | None:
    """Fit a model on the registry and store it (served from the commit on).

    With ``if_missing``, only if no model is stored (None otherwise). Fits are
    serialised by an advisory lock, so processes starting together fit once.
    ValueError if too few patients have two visits or more.
    """
    with engine.begin() as conn:
        step("Waiting for other fits")
        service.lock_fits(conn)
        if if_missing and service.latest_model(conn) is not None:
            return None
        step("Reading histories")
        patients, assessments = service.registry_counts(conn)
        histories = service.sample_histories(
            conn, fit_patients + calibration_patients, salt=f"fit:{seed}"
        )
        step(f"Fitting on {min(fit_patients, len(histories)):,} patients (statsmodels MixedLM)")
        result = fit(
            histories,
            seed=seed,
            fit_patients=fit_patients,
            calibration_patients=calibration_patients,
        )
        step("Storing the model")
        fitted_at = datetime.datetime.now(datetime.UTC)
        stored = service.store_model(
            conn,
            version_for(fitted_at),
            fitted_at,
            result.parameters,
            {"calibration": result.calibration},
            result.n_patients,
            result.n_assessments,
        )
    return FitOutcome(stored, result, patients, assessments)


def evaluate_registry(
    engine: Engine,
    *,
    seed: int = 0,
    evaluation_patients: int = DEFAULT_EVALUATION_PATIENTS,
    fit_patients: int = DEFAULT_FIT_PATIENTS,
    calibration_patients: int = DEFAULT_CALIBRATION_PATIENTS,
    save: bool = True,
    step: Step = _no_step,
) -> tuple[EvaluationReport, service.StoredModel | None]:
    """The held-out evaluation on (a sample of) the registry; with ``save``, its figures
    are added to the served model's ``evaluation`` under ``"holdout"`` (the model it
    returns; None if there is none)."""
    with engine.connect() as conn:
        step("Reading histories")
        histories = service.sample_histories(conn, evaluation_patients, salt=f"evaluate:{seed}")
    step(f"Fitting on the training patients, predicting {len(histories) // 5:,} held out")
    report = evaluate(
        histories,
        seed=seed,
        fit_patients=fit_patients,
        calibration_patients=calibration_patients,
    )
    if not save:
        return report, None
    with engine.begin() as conn:
        current = service.latest_model(conn)
        if current is not None:
            service.add_evaluation(conn, current.model_id, {"holdout": report.to_json()})
    return report, current
