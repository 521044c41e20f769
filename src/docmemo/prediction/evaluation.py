"""Honest evaluation of the progression model on held-out patients (``docmemo evaluate-model``).

A random fifth of the patients with two visits or more is held out. The model is fitted
(sample, calibration and all, as ``docmemo fit-model`` does) on the other patients only;
then each held-out patient's *last* score is predicted from their earlier visits at the
actual horizon (the time from their previous visit to the last), and compared with the
score observed. Nothing of a held-out patient is used before that comparison.

Three models are compared on the same patients:

- ``lme-2.1``, the model fitted here;
- last value carried forward (LVCF): the previous score, with intervals from the
  empirical quantiles of the change between the last two visits of the *training*
  patients (its fairest intervals; they ignore the horizon, as LVCF does);
- ``population-course-1.0``, the first version's published average course from the
  previous score (no fitting: it was never tuned on these data).

Figures: mean absolute error of the predicted score (clipped to 0..30), and the share
of observed scores inside the 80 % and 95 % intervals.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from docmemo.prediction.fitting import (
    DEFAULT_CALIBRATION_PATIENTS,
    DEFAULT_FIT_PATIENTS,
    eligible,
    fit,
)
from docmemo.prediction.model import MMSE_MAX, MMSE_MIN, Interval
from docmemo.prediction.progression import (
    METHOD,
    POPULATION_COURSE,
    Forecaster,
    PatientHistory,
    Visit,
    years_between,
)

HOLDOUT_FRACTION = 0.2
LVCF_NAME = "last value (LVCF)"


@dataclass(frozen=True, slots=True)
class LastValueCarriedForward:
    """The previous score, with intervals from the training patients' changes."""

    change_quantiles: tuple[float, float, float, float]
    """2.5 %, 10 %, 90 % and 97.5 % quantiles of (last - previous score)."""

    @classmethod
    def fitted_on(cls, histories: Iterable[PatientHistory]) -> LastValueCarriedForward:
        changes = [h.visits[-1].mmse - h.visits[-2].mmse for h in eligible(histories)]
        q = np.quantile(np.asarray(changes, dtype=float), [0.025, 0.10, 0.90, 0.975])
        return cls(tuple(float(v) for v in q))  # type: ignore[arg-type]

    def predict_at(
        self, visits: Sequence[Visit], age: int, target: datetime.date
    ) -> tuple[float, Interval, Interval]:
        last = float(visits[-1].mmse)
        q025, q10, q90, q975 = self.change_quantiles

        def interval(low: float, high: float) -> Interval:
            return Interval(max(MMSE_MIN, last + low), min(MMSE_MAX, last + high))

        return last, interval(q10, q90), interval(q025, q975)


@dataclass(frozen=True, slots=True)
class ModelScore:
    """One model's figures on the held-out patients."""

    model: str
    mae: float
    coverage_80: float
    coverage_95: float
    mean_width_80: float
    mean_width_95: float


@dataclass(frozen=True, slots=True)
class ClearCase:
    """A textbook history and what the evaluated model predicts a year after it."""

    description: str
    last_mmse: int
    predicted_mmse: float
    interval_80: Interval


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    seed: int
    patients: int
    eligible_patients: int
    held_out: int
    training_patients: int
    fit_patients: int
    mean_horizon_months: float
    scores: list[ModelScore]
    clear_cases: list[ClearCase] = field(default_factory=list)

    def score(self, model: str) -> ModelScore:
        return next(s for s in self.scores if s.model == model)

    def to_json(self) -> dict[str, Any]:
        """The figures as stored with a model (``progression_models.evaluation``)."""
        return {
            "kind": "holdout",
            "seed": self.seed,
            "patients": self.patients,
            "eligible_patients": self.eligible_patients,
            "held_out": self.held_out,
            "training_patients": self.training_patients,
            "fit_patients": self.fit_patients,
            "mean_horizon_months": round(self.mean_horizon_months, 2),
            "scores": [
                {
                    "model": s.model,
                    "mae": round(s.mae, 4),
                    "coverage_80": round(s.coverage_80, 4),
                    "coverage_95": round(s.coverage_95, 4),
                    "mean_width_80": round(s.mean_width_80, 3),
                    "mean_width_95": round(s.mean_width_95, 3),
                }
                for s in self.scores
            ],
        }


def score_model(
    name: str, model: Forecaster | LastValueCarriedForward, held_out: Sequence[PatientHistory]
) -> ModelScore:
    """MAE, coverage and mean widths of ``model`` predicting each patient's last score."""
    errors, inside_80, inside_95, widths_80, widths_95 = [], 0, 0, [], []
    for history in held_out:
        *earlier, last = history.visits
        mean, i80, i95 = model.predict_at(earlier, history.age, last.assessed_at)
        errors.append(abs(min(MMSE_MAX, max(MMSE_MIN, mean)) - last.mmse))
        inside_80 += i80.low <= last.mmse <= i80.high
        inside_95 += i95.low <= last.mmse <= i95.high
        widths_80.append(i80.high - i80.low)
        widths_95.append(i95.high - i95.low)
    n = len(held_out)
    return ModelScore(
        model=name,
        mae=float(np.mean(errors)),
        coverage_80=inside_80 / n,
        coverage_95=inside_95 / n,
        mean_width_80=float(np.mean(widths_80)),
        mean_width_95=float(np.mean(widths_95)),
    )


def yearly_history(scores: Sequence[int], last_visit: datetime.date) -> list[Visit]:
    """Visits a year apart ending on ``last_visit``, one per score (oldest first)."""
    n = len(scores)
    return [
        Visit(last_visit - datetime.timedelta(days=round(365.25 * (n - 1 - i))), score)
        for i, score in enumerate(scores)
    ]


def clear_cases(model: Forecaster, today: datetime.date) -> list[ClearCase]:
    """Textbook histories (issue 6), a year after the last of four yearly visits."""
    cases = [
        ("lost 2 points a year over four yearly visits (age 75)", [26, 24, 22, 20]),
        ("stable at 22 over four yearly visits (age 75)", [22, 22, 22, 22]),
        ("stable at 25 over four yearly visits (age 75)", [25, 25, 25, 25]),
    ]
    out = []
    for description, scores in cases:
        visits = yearly_history(scores, today)
        forecast = model.forecast(visits, 75, today, 12)
        out.append(
            ClearCase(description, scores[-1], forecast.predicted_mmse, forecast.interval_80)
        )
    return out


def split_holdout(
    histories: Sequence[PatientHistory], seed: int, fraction: float = HOLDOUT_FRACTION
) -> tuple[list[PatientHistory], list[PatientHistory]]:
    """(training patients, held-out patients): a random ``fraction`` of those with two
    visits or more is held out; every other patient is for training."""
    candidates = eligible(histories)
    order = list(range(len(candidates)))
    random.Random(seed).shuffle(order)  # noqa: S311 - a reproducible split
    held_ids = {candidates[i].patient_id for i in order[: round(len(candidates) * fraction)]}
    training = [h for h in histories if h.patient_id not in held_ids]
    held = [h for h in candidates if h.patient_id in held_ids]
    return training, held


def evaluate(
    histories: Sequence[PatientHistory],
    *,
    seed: int = 0,
    fit_patients: int = DEFAULT_FIT_PATIENTS,
    calibration_patients: int = DEFAULT_CALIBRATION_PATIENTS,
    today: datetime.date | None = None,
) -> EvaluationReport:
    """Hold out a fifth, fit on the rest, score the three models (module docstring)."""
    training, held = split_holdout(histories, seed)
    if len(held) < 20:
        raise ValueError(f"only {len(held)} patients to hold out; at least 20 are needed")
    fitted = fit(
        training, seed=seed, fit_patients=fit_patients, calibration_patients=calibration_patients
    )
    model = fitted.model(f"{METHOD}-holdout")
    horizons = [
        years_between(h.visits[-2].assessed_at, h.visits[-1].assessed_at) * 12 for h in held
    ]
    scores = [
        score_model(METHOD, model, held),
        score_model(LVCF_NAME, LastValueCarriedForward.fitted_on(training), held),
        score_model(POPULATION_COURSE.version, POPULATION_COURSE, held),
    ]
    return EvaluationReport(
        seed=seed,
        patients=len(histories),
        eligible_patients=len(eligible(histories)),
        held_out=len(held),
        training_patients=len(training),
        fit_patients=fitted.n_patients,
        mean_horizon_months=float(np.mean(horizons)),
        scores=scores,
        clear_cases=clear_cases(model, today or datetime.date.today()),
    )
