"""Fitting the ``lme-2.1`` progression model on patients' histories (statsmodels).

Imported only by the command line (``docmemo fit-model``, ``docmemo evaluate-model``,
the fit after seeding): numpy, pandas, scipy and statsmodels stay out of the API's
worker processes, which predict from the stored figures with
:mod:`docmemo.prediction.progression`.

The fit, on the patients with at least two visits:

1. A random sample of at most ``fit_patients`` of them (3,000 by default: the fit time
   of statsmodels' MixedLM grows with the number of patients, about 3 ms per patient
   per iteration, so a fixed sample bounds time and memory at any registry size; 14
   parameters are well determined by 3,000 patients, see docs/MODEL.md). Each patient
   contributes one anchor visit drawn at random among their visits but the last: the
   anchor's score is the covariate, the visits of the ``window_years`` before it and
   every visit after it are the responses. Anchors at every position teach the model
   both how earlier visits inform the present and how the course goes on for years.
2. REML fit of the linear mixed model of ``progression.py`` (random intercept, slope
   and the slope's change with the level: three random effects with a free 3x3
   covariance), L-BFGS then BFGS and CG if it does not converge.
3. Interval calibration on other patients (at most ``calibration_patients``, none of
   them in the fit): each one's last score is predicted from their earlier visits, and
   ``z_80``/``z_95`` are the 80th and 95th percentiles of ``|observed - mean| / sd``,
   so that the intervals have their stated coverage even though the scores are
   rounded, clipped and not quite normal. With too few patients left (a tiny
   registry), the fit's own patients are used and the figures say so.
"""

from __future__ import annotations

import datetime
import random
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from docmemo.prediction.model import Z_80, Z_95
from docmemo.prediction.progression import (
    DEFAULT_WINDOW_YEARS,
    METHOD,
    LmeModel,
    LmeParameters,
    PatientHistory,
    fixed_design,
    random_design,
    years_between,
)

DEFAULT_FIT_PATIENTS = 3_000
DEFAULT_CALIBRATION_PATIENTS = 5_000
MIN_CALIBRATION_PATIENTS = 200


@dataclass(frozen=True, slots=True)
class FitResult:
    """A fitted model and what it was fitted on."""

    parameters: LmeParameters
    n_patients: int
    """Patients whose visits the fit used (the sample)."""
    n_assessments: int
    """Their visits."""
    calibration: dict[str, Any]
    """How the intervals were calibrated, and the fit's diagnostics."""

    def model(self, version: str = f"{METHOD}-unsaved") -> LmeModel:
        return LmeModel(self.parameters, version)


def eligible(histories: Iterable[PatientHistory]) -> list[PatientHistory]:
    """The patients a progression can be learnt from: two visits or more."""
    return [h for h in histories if len(h.visits) >= 2]


def training_rows(
    histories: Sequence[PatientHistory], rng: random.Random, window_years: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Responses, fixed-effects rows, groups and random-effects rows (see step 1)."""
    y: list[float] = []
    x: list[list[float]] = []
    z: list[list[float]] = []
    groups: list[int] = []
    for index, history in enumerate(histories):
        visits = history.visits
        anchor_at = rng.randrange(len(visits) - 1)
        anchor = visits[anchor_at]
        for position, visit in enumerate(visits):
            t = years_between(anchor.assessed_at, visit.assessed_at)
            if position == anchor_at or t < -window_years:
                continue
            y.append(float(visit.mmse))
            x.append(fixed_design(anchor.mmse, history.age, t))
            z.append(random_design(anchor.mmse, t))
            groups.append(index)
    return np.array(y), np.array(x), np.array(groups), np.array(z)


def _fit_mixed_model(
    y: np.ndarray, x: np.ndarray, groups: np.ndarray, z: np.ndarray
) -> tuple[tuple[float, ...], tuple[tuple[float, ...], ...], float, bool]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = MixedLM(y, x, groups=groups, exog_re=z).fit(
            reml=True, method=["lbfgs", "bfgs", "cg"]
        )
    cov = np.asarray(result.cov_re, dtype=float)
    # An estimate on the boundary (a zero variance, a perfect correlation) would make G
    # singular: keep its eigenvalues a hair positive.
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    cov = (vectors * np.maximum(values, 1e-6)) @ vectors.T
    size = len(cov)
    g = tuple(tuple(float(cov[min(i, j), max(i, j)]) for j in range(size)) for i in range(size))
    fixed = tuple(float(b) for b in result.fe_params)
    return fixed, g, float(result.scale), bool(result.converged)


def last_score_errors(
    model: LmeModel, histories: Sequence[PatientHistory]
) -> tuple[list[float], list[float]]:
    """Each patient's last score predicted from the visits before it: the absolute
    errors of the (clipped) mean, and ``|observed - mean| / sd`` (unclipped mean)."""
    absolute, standardized = [], []
    for history in histories:
        *earlier, last = history.visits
        mean, sd, _ = model.mean_and_sd(earlier, history.age, last.assessed_at)
        absolute.append(abs(last.mmse - min(30.0, max(0.0, mean))))
        standardized.append(abs(last.mmse - mean) / sd)
    return absolute, standardized


def _quantile(values: Sequence[float], q: float) -> float:
    return float(np.quantile(np.asarray(values), q))


def fit(
    histories: Iterable[PatientHistory],
    *,
    seed: int = 0,
    fit_patients: int = DEFAULT_FIT_PATIENTS,
    calibration_patients: int = DEFAULT_CALIBRATION_PATIENTS,
    window_years: float = DEFAULT_WINDOW_YEARS,
) -> FitResult:
    """Fit ``lme-2.1`` on these histories (see the module docstring); ValueError if
    fewer than 20 patients have two visits or more."""
    candidates = eligible(histories)
    if len(candidates) < 20:
        raise ValueError(
            f"{len(candidates)} patients have two visits or more; at least 20 are needed"
        )
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    rng.shuffle(candidates)
    # Leave at least a fifth for the calibration, however small the registry.
    fit_count = min(fit_patients, len(candidates) - len(candidates) // 5)
    sample = candidates[:fit_count]
    held = candidates[fit_count : fit_count + calibration_patients]
    y, x, groups, z = training_rows(sample, rng, window_years)
    fixed, cov, residual, converged = _fit_mixed_model(y, x, groups, z)
    provisional = LmeModel(
        LmeParameters(fixed, cov, residual, z_80=Z_80, z_95=Z_95, window_years=window_years),
        f"{METHOD}-provisional",
    )
    out_of_fit = len(held) >= MIN_CALIBRATION_PATIENTS
    calibration_set = held if out_of_fit else sample
    absolute, standardized = last_score_errors(provisional, calibration_set)
    z_80, z_95 = _quantile(standardized, 0.80), _quantile(standardized, 0.95)
    parameters = LmeParameters(
        fixed, cov, residual, z_80=z_80, z_95=z_95, window_years=window_years
    )
    return FitResult(
        parameters=parameters,
        n_patients=len(sample),
        n_assessments=sum(len(h.visits) for h in sample),
        calibration={
            "seed": seed,
            "fit_patients": len(sample),
            "fit_rows": len(y),
            "converged": converged,
            "calibration_patients": len(calibration_set),
            "calibration_out_of_fit": out_of_fit,
            "z_80": round(z_80, 4),
            "z_95": round(z_95, 4),
            # The calibration patients' last scores: out of the fit when calibration_out_of_fit.
            "calibration_mae": round(float(np.mean(absolute)), 4),
            "library": _library_versions(),
        },
    )


def _library_versions() -> dict[str, str]:
    import scipy
    import statsmodels

    return {
        "statsmodels": statsmodels.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def version_for(fitted_at: datetime.datetime) -> str:
    """The version of a model fitted at this instant: ``lme-2.1-20261129T103000.123456Z``."""
    return f"{METHOD}-{fitted_at.astimezone(datetime.UTC):%Y%m%dT%H%M%S.%fZ}"
