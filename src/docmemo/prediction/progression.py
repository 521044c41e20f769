"""The MMSE progression model ``lme-2.1``: predicting from a patient's own visits.

Plain Python on purpose: the API's worker processes import this module, and must not
import numpy, pandas, scipy or statsmodels (memory: a worker stays under 200 MB). The
model is *fitted* by :mod:`docmemo.prediction.fitting` (statsmodels, in the CLI only),
which stores the figures of :class:`LmeParameters` in ``progression_models``; here
they are read back and used. ``docs/MODEL.md`` is the model card.

The model, a linear mixed-effects model anchored at a visit. For a patient of age
``a`` whose anchor visit (the latest one used) scored ``b``, the score ``y`` at ``t``
years from the anchor (negative: earlier visits) is::

    y(t) = x(b, a, t) . beta  +  u0 + (u1 + u2 * B) * s(b) * t  +  e,
    (u0, u1, u2) ~ N(0, G),  e ~ N(0, s2)

with ``B = (b - 20) / 10``, ``A = (a - 65) / 10`` and the 18 fixed effects of
``FIXED_EFFECT_NAMES``: a level ``1, B, B², A``; a slope before the anchor
``min(t, 0) * (1, B, B², A)``; a slope after it ``max(t, 0) * (1, B, B², A)``, which
bends at one and at three years, ``(t - 1)+ * (1, B, B²)`` and ``(t - 3)+ * (1, B, B²)``.

- Fixed effects: the expected course from the anchor's level, changing with the level
  (slow near 30, fastest in the middle of the scale, slow near the floor: quadratic in
  ``B``) and with age, piecewise linear in time so that it goes on in a straight line
  beyond the data instead of turning like a polynomial, and with its own slope before
  the anchor (the anchor's test noise makes the course seen from it kink at ``t = 0``).
- The anchor score is a covariate (as baseline scores are in the analysis of AD trials),
  not a response: its own test noise is part of ``u0``, shared by the patient's other
  visits, which is why earlier visits correct it.
- Random intercept and slope per patient (``G``), residual variance ``s2``. The random
  slope multiplies ``t * s(b)``, where ``s`` is the relative rate of the published
  course at the anchor level (1 in the moderate range, at least 0.25 near 30 and 0,
  ``slope_scale``): rates differ most between patients where the disease moves fastest.
  Since ``lme-2.1`` the random slope is ``u1 + u2 * B``: its variance
  ``g11 + 2 g12 B + g22 B²`` is quadratic in the level and *estimated* (``lme-2.0``
  had ``u1`` alone, the spread's dependence on the level fixed by ``s``). With a third
  of patients who do not decline, a spread assumed too small at some level shrinks a
  flat history towards the average decline there; estimated, the spread lets four
  stable visits count (docs/MODEL.md §3.1). ``lme-2.0`` parameters are still read.
- Only the visits of the last ``window_years`` (3.5) before the anchor are used: the
  course is curved, so a straight individual slope describes recent years, not a decade.

A prediction is the conditional (BLUP) estimate given the patient's earlier visits:
with residuals ``r = y - X beta`` of the visits before the anchor and their ``Z``
(rows ``[1, t s(b), t s(b) B]``; ``[1, t s(b)]`` for ``lme-2.0``),
``P = (G^-1 + Z'Z / s2)^-1``, ``u = P Z' r / s2``; the mean at ``t`` is
``x(t) beta + z(t) u`` and its variance ``z(t) P z(t)' + s2`` (the uncertainty of
``beta`` itself, fitted on thousands of patients, is neglected). With a single visit
``u = 0`` and ``P = G``: the population course from that score. The mean course is then
made non-increasing after the anchor (its running minimum over ``[0, t]``: AD is not
expected to improve, and a patient's upward slope is most often test noise), and the
intervals are ``mean +/- z * sd``, with ``z`` calibrated on patients kept out of the
fit (``fitting.py``), clipped to 0..30.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from docmemo.prediction.model import (
    HORIZON_MAX_MONTHS,
    HORIZON_MIN_MONTHS,
    MMSE_MAX,
    MMSE_MIN,
    Z_80,
    Z_95,
    Interval,
    MmsePrediction,
    PopulationCourseModel,
    Severity,
    severity_band,
)

METHOD = "lme-2.1"
# Stored methods this code reads, by their number of random effects (``random_design``).
RANDOM_EFFECTS_OF_METHOD = {"lme-2.0": 2, "lme-2.1": 3}
METHOD_OF_RANDOM_EFFECTS = {n: method for method, n in RANDOM_EFFECTS_OF_METHOD.items()}
FIXED_EFFECT_NAMES = (
    "intercept",
    "level",
    "level^2",
    "age",
    "past",
    "past:level",
    "past:level^2",
    "past:age",
    "time",
    "time:level",
    "time:level^2",
    "time:age",
    "after_1y",
    "after_1y:level",
    "after_1y:level^2",
    "after_3y",
    "after_3y:level",
    "after_3y:level^2",
)
# Where the forward course may bend (years after the anchor): a piecewise-linear course
# goes on in a straight line past the last knot instead of turning like a polynomial.
KNOTS_YEARS = (1.0, 3.0)
LEVEL_CENTER, LEVEL_SCALE = 20.0, 10.0
AGE_CENTER, AGE_SCALE = 65.0, 10.0
DEFAULT_WINDOW_YEARS = 3.5
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12


class Visit(NamedTuple):
    """One MMSE assessment."""

    assessed_at: datetime.date
    mmse: int


class PatientHistory(NamedTuple):
    """One patient's age and visits, oldest first: what models are fitted on."""

    patient_id: str
    age: int
    visits: list[Visit]


def years_between(start: datetime.date, end: datetime.date) -> float:
    return (end - start).days / DAYS_PER_YEAR


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The same day of the month ``months`` later (the month's last day if shorter)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = datetime.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - datetime.timedelta(days=1)).day
    return datetime.date(year, month, min(day.day, last_day))


def fixed_design(level: float, age: float, t: float) -> list[float]:
    """The fixed-effects row ``x(b, a, t)`` (same order as ``FIXED_EFFECT_NAMES``)."""
    b = (level - LEVEL_CENTER) / LEVEL_SCALE
    b2 = b * b
    a = (age - AGE_CENTER) / AGE_SCALE
    past = min(t, 0.0)
    ahead = max(t, 0.0)
    k1 = max(t - KNOTS_YEARS[0], 0.0)
    k3 = max(t - KNOTS_YEARS[1], 0.0)
    return [
        *(1.0, b, b2, a),
        *(past, past * b, past * b2, past * a),
        *(ahead, ahead * b, ahead * b2, ahead * a),
        *(k1, k1 * b, k1 * b2),
        *(k3, k3 * b, k3 * b2),
    ]


_COURSE = PopulationCourseModel()
# Individual rates vary most where the mean rate is fastest (the middle of the scale)
# and little near 30 or 0, where there is little room or time to decline: the random
# slope is scaled by the published course's relative rate at the anchor's level, as
# population-course-1.0 scaled its between-patient rate SD with the mean rate.
SLOPE_SCALE_FLOOR = 0.25


def slope_scale(level: float) -> float:
    """Multiplier of the random slope at this anchor level: 1 at the fastest point of
    the published course (MMSE about 14), down to ``SLOPE_SCALE_FLOOR`` near 30 and 0."""
    relative = _COURSE.annual_decline(level, _COURSE.parameters.reference_age)
    return max(SLOPE_SCALE_FLOOR, relative / _COURSE.parameters.peak_annual_decline)


def random_design(level: float, t: float, n_random: int = 3) -> list[float]:
    """The random-effects row ``z(b, t)``: intercept, slope and (``lme-2.1``, 3 random
    effects) the slope's change with the level; 2 random effects for ``lme-2.0``."""
    ts = t * slope_scale(level)
    if n_random == 2:
        return [1.0, ts]
    return [1.0, ts, ts * (level - LEVEL_CENTER) / LEVEL_SCALE]


def _inverse(matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    """Inverse of a small symmetric positive definite matrix (Gauss-Jordan; 2x2, 3x3);
    ValueError if it is not positive definite."""
    n = len(matrix)
    work = [
        [*map(float, row), *(1.0 if i == j else 0.0 for j in range(n))]
        for i, row in enumerate(matrix)
    ]
    for col in range(n):
        pivot = work[col][col]
        if not pivot > 0.0:  # positive definite: every pivot without exchange is positive
            raise ValueError("the matrix is not positive definite")
        work[col] = [v / pivot for v in work[col]]
        for row in range(n):
            if row != col and work[row][col] != 0.0:
                factor = work[row][col]
                work[row] = [a - factor * b for a, b in zip(work[row], work[col], strict=True)]
    return [row[n:] for row in work]


def window(visits: Sequence[Visit], window_years: float) -> list[Visit]:
    """The visits of the last ``window_years`` before the latest one (which is kept)."""
    anchor = visits[-1].assessed_at
    return [v for v in visits if years_between(v.assessed_at, anchor) <= window_years]


@dataclass(frozen=True, slots=True)
class Forecast:
    """A prediction for one patient at one horizon, everything on the 0..30 scale."""

    current_mmse: int
    horizon_months: int
    target_date: datetime.date
    predicted_mmse: float
    expected_annual_decline: float
    uncertainty_sd: float
    interval_80: Interval
    interval_95: Interval
    predicted_severity: Severity
    model_version: str
    model_fitted_at: datetime.datetime | None
    visits_used: int


class Forecaster(Protocol):
    """A model the API can serve: a patient's visits (oldest first) and age in."""

    @property
    def version(self) -> str: ...

    @property
    def fitted_at(self) -> datetime.datetime | None: ...

    def forecast(
        self, visits: Sequence[Visit], age: int, today: datetime.date, months: int
    ) -> Forecast:
        """Predict the score ``months`` after ``today``."""
        ...

    def predict_at(
        self, visits: Sequence[Visit], age: int, target: datetime.date
    ) -> tuple[float, Interval, Interval]:
        """Mean and 80 %/95 % intervals of the score observed on ``target``."""
        ...


def _clip(value: float) -> float:
    return min(float(MMSE_MAX), max(float(MMSE_MIN), value))


def _target(visits: Sequence[Visit], today: datetime.date, months: int) -> datetime.date:
    """The date ``months`` after ``today``, once the request is checked."""
    if not visits:
        raise ValueError("a prediction needs at least one visit")
    if not HORIZON_MIN_MONTHS <= months <= HORIZON_MAX_MONTHS:
        raise ValueError(f"months must be between 1 and 60, got {months}")
    return add_months(today, months)


def _assemble(
    model: Forecaster,
    visits: Sequence[Visit],
    months: int,
    target: datetime.date,
    mean: float,
    interval_80: Interval,
    interval_95: Interval,
    sd: float,
    visits_used: int,
) -> Forecast:
    predicted = round(mean, 1)
    current = visits[-1].mmse
    return Forecast(
        current_mmse=current,
        horizon_months=months,
        target_date=target,
        predicted_mmse=predicted,
        expected_annual_decline=round((current - predicted) * 12.0 / months, 2),
        uncertainty_sd=round(sd, 2),
        interval_80=interval_80,
        interval_95=interval_95,
        predicted_severity=severity_band(predicted),
        model_version=model.version,
        model_fitted_at=model.fitted_at,
        visits_used=visits_used,
    )


@dataclass(frozen=True, slots=True)
class LmeParameters:
    """Everything a fitted model needs to predict; stored as JSON. Three random effects
    (a 3x3 ``random_effects_cov``) for ``lme-2.1``, two for a stored ``lme-2.0``."""

    fixed_effects: tuple[float, ...]
    random_effects_cov: tuple[tuple[float, ...], ...]
    residual_variance: float
    z_80: float = Z_80
    z_95: float = Z_95
    window_years: float = DEFAULT_WINDOW_YEARS

    def __post_init__(self) -> None:
        if len(self.fixed_effects) != len(FIXED_EFFECT_NAMES):
            raise ValueError(f"{len(FIXED_EFFECT_NAMES)} fixed effects expected")
        g = self.random_effects_cov
        n = len(g)
        if n not in METHOD_OF_RANDOM_EFFECTS or any(len(row) != n for row in g):
            raise ValueError("the random-effects covariance must be 2x2 or 3x3")
        values = (*self.fixed_effects, *(v for row in g for v in row))
        values += (self.residual_variance, self.z_80, self.z_95, self.window_years)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("parameters must be finite")
        if any(g[i][j] != g[j][i] for i in range(n) for j in range(i)):
            raise ValueError("the random-effects covariance must be symmetric positive definite")
        try:
            _inverse(g)
        except ValueError:
            raise ValueError(
                "the random-effects covariance must be symmetric positive definite"
            ) from None
        if not self.residual_variance > 0:
            raise ValueError("the residual variance must be positive")
        if not 0 < self.z_80 < self.z_95:
            raise ValueError("the interval multipliers must satisfy 0 < z_80 < z_95")
        if not self.window_years > 0:
            raise ValueError("the window must be positive")

    @property
    def method(self) -> str:
        """``lme-2.1``, or ``lme-2.0`` for parameters read from an older row."""
        return METHOD_OF_RANDOM_EFFECTS[len(self.random_effects_cov)]

    @property
    def n_random(self) -> int:
        return len(self.random_effects_cov)

    def to_json(self) -> dict[str, Any]:
        """The stored form: named fixed effects, so that the row can be read by a person."""
        return {
            "method": self.method,
            "fixed_effects": dict(zip(FIXED_EFFECT_NAMES, self.fixed_effects, strict=True)),
            "random_effects_cov": [list(row) for row in self.random_effects_cov],
            "residual_variance": self.residual_variance,
            "z_80": self.z_80,
            "z_95": self.z_95,
            "window_years": self.window_years,
            "level_center_scale": [LEVEL_CENTER, LEVEL_SCALE],
            "age_center_scale": [AGE_CENTER, AGE_SCALE],
            "knots_years": list(KNOTS_YEARS),
            "random_slope_scale": {
                "shape": "population-course-1.0 rate at age 70 / its peak",
                "floor": SLOPE_SCALE_FLOOR,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LmeParameters:
        """Read the stored form back (``lme-2.1`` or ``lme-2.0``); ValueError otherwise."""
        try:
            method = data["method"]
            if method not in RANDOM_EFFECTS_OF_METHOD:
                raise ValueError(f"not a model this code reads: {method!r}")
            if (
                list(data["level_center_scale"]) != [LEVEL_CENTER, LEVEL_SCALE]
                or list(data["age_center_scale"]) != [AGE_CENTER, AGE_SCALE]
                or list(data["knots_years"]) != list(KNOTS_YEARS)
                or data["random_slope_scale"]["floor"] != SLOPE_SCALE_FLOOR
            ):
                raise ValueError("the model was fitted with another design than this code's")
            fixed = data["fixed_effects"]
            cov = tuple(tuple(float(v) for v in row) for row in data["random_effects_cov"])
            if len(cov) != RANDOM_EFFECTS_OF_METHOD[method]:
                raise ValueError(f"{method} has {RANDOM_EFFECTS_OF_METHOD[method]} random effects")
            return cls(
                fixed_effects=tuple(float(fixed[name]) for name in FIXED_EFFECT_NAMES),
                random_effects_cov=cov,
                residual_variance=float(data["residual_variance"]),
                z_80=float(data["z_80"]),
                z_95=float(data["z_95"]),
                window_years=float(data["window_years"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"incomplete model parameters: {error!r}") from None


class _Posterior(NamedTuple):
    """The patient's random effects given their earlier visits: mean and covariance."""

    mean: list[float]
    cov: list[list[float]]


def _quadratic(z: Sequence[float], matrix: Sequence[Sequence[float]]) -> float:
    return sum(
        zi * mij * zj
        for zi, row in zip(z, matrix, strict=True)
        for mij, zj in zip(row, z, strict=True)
    )


@dataclass(frozen=True, slots=True)
class LmeModel:
    """A fitted ``lme-2.1`` (or stored ``lme-2.0``) model (see the module docstring)."""

    parameters: LmeParameters
    version: str
    fitted_at: datetime.datetime | None = None

    def _posterior(self, anchor: Visit, age: float, earlier: Sequence[Visit]) -> _Posterior:
        p = self.parameters
        g = [list(row) for row in p.random_effects_cov]
        k = p.n_random
        if not earlier:
            return _Posterior([0.0] * k, g)
        beta = p.fixed_effects
        s2 = p.residual_variance
        # Precision = G^-1 + Z'Z / s2, and Z'r / s2.
        precision = _inverse(g)
        zr = [0.0] * k
        for visit in earlier:
            t = years_between(anchor.assessed_at, visit.assessed_at)
            x = fixed_design(anchor.mmse, age, t)
            r = visit.mmse - sum(xi * bi for xi, bi in zip(x, beta, strict=True))
            z = random_design(anchor.mmse, t, k)
            for i in range(k):
                zr[i] += z[i] * r / s2
                for j in range(k):
                    precision[i][j] += z[i] * z[j] / s2
        cov = _inverse(precision)
        mean = [sum(cij * vj for cij, vj in zip(row, zr, strict=True)) for row in cov]
        return _Posterior(mean, cov)

    def mean_and_sd(
        self, visits: Sequence[Visit], age: float, target: datetime.date
    ) -> tuple[float, float, int]:
        """The unclipped mean and the model SD of the score on ``target``, and how many
        visits (those in the window) were used."""
        p = self.parameters
        used = window(visits, p.window_years)
        anchor, earlier = used[-1], used[:-1]
        post = self._posterior(anchor, age, earlier)
        beta = p.fixed_effects
        t = max(0.0, years_between(anchor.assessed_at, target))

        def course(s: float) -> float:
            fixed = sum(x * w for x, w in zip(fixed_design(anchor.mmse, age, s), beta, strict=True))
            z = random_design(anchor.mmse, s, p.n_random)
            return fixed + sum(zi * ui for zi, ui in zip(z, post.mean, strict=True))

        # Running minimum over [0, t]: the course never rises after the anchor. It is
        # linear between the knots, so the minimum is at 0, a knot or t.
        mean = min(course(s) for s in (0.0, *KNOTS_YEARS, t) if s <= t)
        z_target = random_design(anchor.mmse, t, p.n_random)
        variance = _quadratic(z_target, post.cov) + p.residual_variance
        return mean, math.sqrt(variance), len(used)

    def predict_at(
        self, visits: Sequence[Visit], age: int, target: datetime.date
    ) -> tuple[float, Interval, Interval]:
        if not visits:
            raise ValueError("a prediction needs at least one visit")
        mean, sd, _ = self.mean_and_sd(visits, age, target)
        return _clip(mean), self._interval(mean, sd, 0.80), self._interval(mean, sd, 0.95)

    def _interval(self, mean: float, sd: float, level: float) -> Interval:
        z = self.parameters.z_80 if level == 0.80 else self.parameters.z_95
        return Interval(round(_clip(mean - z * sd), 1), round(_clip(mean + z * sd), 1))

    def forecast(
        self, visits: Sequence[Visit], age: int, today: datetime.date, months: int
    ) -> Forecast:
        """Predict the score ``months`` (1..60) after ``today`` from ``visits`` (oldest first)."""
        target = _target(visits, today, months)
        mean, sd, used = self.mean_and_sd(visits, age, target)
        interval_80 = self._interval(mean, sd, 0.80)
        interval_95 = self._interval(mean, sd, 0.95)
        # The SD the served 95 % interval stands for (calibrated multiplier, before clipping).
        effective_sd = sd * self.parameters.z_95 / Z_95
        return _assemble(
            self, visits, months, target, _clip(mean), interval_80, interval_95, effective_sd, used
        )


@dataclass(frozen=True, slots=True)
class PopulationCourseForecaster:
    """``population-course-1.0`` behind the same interface: the published average course
    from the latest score, over the months from that visit to the target (1..60)."""

    model: PopulationCourseModel = field(default_factory=PopulationCourseModel)

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def fitted_at(self) -> datetime.datetime | None:
        return None

    def _predict(self, visits: Sequence[Visit], age: int, target: datetime.date) -> MmsePrediction:
        last = visits[-1]
        months = round((target - last.assessed_at).days / DAYS_PER_MONTH)
        months = min(HORIZON_MAX_MONTHS, max(HORIZON_MIN_MONTHS, months))
        return self.model.predict(last.mmse, min(130, max(0, age)), months)

    def predict_at(
        self, visits: Sequence[Visit], age: int, target: datetime.date
    ) -> tuple[float, Interval, Interval]:
        if not visits:
            raise ValueError("a prediction needs at least one visit")
        p = self._predict(visits, age, target)
        return p.predicted_mmse, p.interval_80, p.interval_95

    def forecast(
        self, visits: Sequence[Visit], age: int, today: datetime.date, months: int
    ) -> Forecast:
        target = _target(visits, today, months)
        p = self._predict(visits, age, target)
        return _assemble(
            self,
            visits,
            months,
            target,
            p.predicted_mmse,
            p.interval_80,
            p.interval_95,
            p.uncertainty_sd,
            1,
        )


POPULATION_COURSE = PopulationCourseForecaster()
