"""Population-course model of the MMSE, version ``population-course-1.0``.

Why this model: the registry holds one MMSE score and one age per patient and no history,
so the most a first version can honestly do is apply the *published average course* of
Alzheimer's disease (AD) from the patient's current score, with an interval wide enough
to show how little a single score says about a single person. ``docs/PREDICTION.md`` is
the model card (method, sources, assumptions, limits). Not a medical device.

Method, for a current score ``m0``, an age ``a`` and a horizon of ``n`` months:

1. Expected annual decline as a hump-shaped function of the score (points/year)::

       r(m) = R_PEAK * s(m) / s(m_peak),   s(m) = x * (1 + delta - x) ** b,   x = m / 30

   with ``R_PEAK = 4.0``, ``delta = 0.1``, ``b = 1.3``: the peak is at ``m ~ 14.3``
   (moderate range); at age 70 ``r(30) ~ 0.8``, ``r(26) ~ 2.0``, ``r(22) ~ 3.1``,
   ``r(18) ~ 3.8``, ``r(10) ~ 3.7``, ``r(5) ~ 2.4``, ``r(2) ~ 1.1``, ``r(0) = 0``.
   The shape follows the curvilinear ("inverse S") course of the MMSE in AD: slow in
   the mild range, fastest in the moderate range, slowing again towards the floor
   (Stern et al. 1996; Mendiondo et al. 2000; Xie et al. 2009: about 2.2 points/year
   in the first two years, 3.8 in the next three, 1.6 in the last two). ``R_PEAK`` is
   set so that a CERAD-like clinic population (MMSE about 19 +/- 5, age 71) averages
   3.4 points/year over 12 months, the CERAD figure (Clark et al. 1999), close to the
   meta-analysis of Han et al. 2000 (about 3.3 points/year).
2. Age factor ``f(a) = clip(1 - 0.02 * (a - 70), 0.6, 1.4)``: older patients decline more
   slowly and younger ones faster (Jacobs et al. 1994; Barnes et al. 2018; an Essex
   memory-clinic cohort: 2.8, 2.0 and 1.4 points/year for onset before 65, at 65-74 and
   at 75 or later). The current age stands in for the age at onset, which the registry
   does not hold.
3. The expected course is integrated month by month (midpoint rule),
   ``dm/dt = -f(a) * r(m)``, so that a patient who moves into a slower range slows down
   and the mean never goes below 0. ``D`` is the expected decline over the horizon and
   ``D * 12 / n`` the expected annual decline reported.
4. Uncertainty of a future *observed* score, two independent sources::

       sd = sqrt(RETEST_SD ** 2 + (RATE_CV * D) ** 2)

   ``RETEST_SD = 2.8`` points: test-retest variability of the MMSE in AD (Clark et al.
   1999, CERAD: "measurement error" SD 2.8 points; consistent with a test-retest
   reliability of 0.80-0.95 reviewed by Tombaugh & McIntyre 1992, and larger than the
   2-4-point 90 % reliable change of cognitively normal elderly, Hensel et al. 2007).
   ``RATE_CV = 0.75``: between-patient SD of the annual rate as a fraction of the mean
   rate (about 2.5 points/year at 3.4 points/year). No source here gives this figure:
   it is our assumption, within the "wide variability" of individual rates reported
   by Clark et al. 1999; with it the SD of an observed one-year change is about 3.8
   points. Because ``RATE_CV * D`` grows with the horizon (a random slope), the
   interval widens with it; at one month it is almost only retest noise.
5. Intervals ``mean +/- z * sd`` with ``z = 1.2816`` (80 %) and ``1.96`` (95 %), clipped
   to 0..30. The upper bound is also capped at ``m0 + z * RETEST_SD``: AD is not
   expected to improve, so a future score above today's is only measurement noise.
6. The severity band of the predicted mean uses the SPEC bands (24-30 normal, 18-23
   mild, 10-17 moderate, 0-9 severe) on the mean rounded to the nearest whole point.

Interface: :class:`MmsePredictor` is the contract (score, age, horizon in; an
:class:`MmsePrediction` out). The later mixed-effects model fitted on patient histories
will be another implementation; :func:`predict_mmse` calls whichever is
:data:`DEFAULT_MODEL`, so callers need not change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

MODEL_VERSION = "population-course-1.0"

MMSE_MIN = 0
MMSE_MAX = 30
AGE_MIN = 0
AGE_MAX = 130
HORIZON_MIN_MONTHS = 1
HORIZON_MAX_MONTHS = 60
DEFAULT_HORIZON_MONTHS = 12

# Two-sided standard normal quantiles for the 80 % and 95 % prediction intervals.
Z_80 = 1.2816
Z_95 = 1.96

Severity = Literal["normal", "mild", "moderate", "severe"]


class Interval(NamedTuple):
    """A prediction interval on the MMSE scale, already clipped to 0..30."""

    low: float
    high: float


@dataclass(frozen=True, slots=True)
class MmsePrediction:
    """What a model predicts for one patient; immutable so it can be cached or logged."""

    current_mmse: int
    age: int
    horizon_months: int
    predicted_mmse: float
    """Expected MMSE at the horizon, 0..30, one decimal."""
    expected_annual_decline: float
    """Expected decline over the horizon expressed per year (points/year, two decimals)."""
    uncertainty_sd: float
    """SD of a future observed score: rate variability and test-retest noise combined."""
    interval_80: Interval
    interval_95: Interval
    predicted_severity: Severity
    model_version: str


class MmsePredictor(Protocol):
    """Any MMSE model the API can serve; the web layer depends on this, not on a class."""

    @property
    def version(self) -> str:
        """A string that identifies the model and its parameters, returned to clients."""
        ...

    def predict(
        self, current_mmse: int, age: int, months: int = DEFAULT_HORIZON_MONTHS
    ) -> MmsePrediction:
        """Predict the MMSE ``months`` ahead; raise ValueError for inputs out of range."""
        ...


@dataclass(frozen=True, slots=True)
class PopulationCourseParameters:
    """The figures of the model, in one place so that the model card can quote them."""

    peak_annual_decline: float = 4.0
    """Points/year at the fastest point of the course (moderate range), age 70."""
    ceiling_offset: float = 0.1
    """``delta``: keeps a small decline at MMSE 30 instead of exactly none."""
    shape_exponent: float = 1.3
    """``b``: > 1 makes the mild range slower than the symmetric counterpart."""
    reference_age: int = 70
    """Age at which the age factor is 1 (about the mean age of the CERAD cohort)."""
    age_effect_per_year: float = 0.02
    """Relative change of the rate per year of age away from the reference age."""
    age_factor_min: float = 0.6
    age_factor_max: float = 1.4
    rate_cv: float = 0.75
    """Between-patient SD of the annual rate, as a fraction of the expected rate."""
    retest_sd: float = 2.8
    """SD of the difference between two MMSE tests with no true change (points)."""


def _check_int(name: str, value: object, low: int, high: int) -> int:
    """Validate an integer input; a model must never guess on an out-of-range score."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def severity_band(score: float) -> Severity:
    """SPEC severity band of a score; a fractional score counts as its nearest whole point.

    The bands are defined on whole scores (24-30 normal, 18-23 mild, 10-17 moderate,
    0-9 severe); a predicted mean of 23.6 is read as 24, the score it would most
    likely be written down as, hence the half-point thresholds.
    """
    if score >= 23.5:
        return "normal"
    if score >= 17.5:
        return "mild"
    if score >= 9.5:
        return "moderate"
    return "severe"


@dataclass(frozen=True, slots=True)
class PopulationCourseModel:
    """The published average course of AD, applied from the current score (see module doc)."""

    parameters: PopulationCourseParameters = field(default_factory=PopulationCourseParameters)
    version: str = MODEL_VERSION

    def _shape(self, mmse: float) -> float:
        x = mmse / MMSE_MAX
        return x * (1.0 + self.parameters.ceiling_offset - x) ** self.parameters.shape_exponent

    @property
    def peak_mmse(self) -> float:
        """Score at which the expected decline is fastest (the maximum of ``s``)."""
        p = self.parameters
        return MMSE_MAX * (1.0 + p.ceiling_offset) / (1.0 + p.shape_exponent)

    def age_factor(self, age: int) -> float:
        """Multiplier of the rate for this age: < 1 older than the reference, > 1 younger."""
        p = self.parameters
        raw = 1.0 - p.age_effect_per_year * (age - p.reference_age)
        return min(p.age_factor_max, max(p.age_factor_min, raw))

    def annual_decline(self, mmse: float, age: int) -> float:
        """Instantaneous expected decline (points/year) at a score and an age."""
        m = min(float(MMSE_MAX), max(0.0, mmse))
        relative = self._shape(m) / self._shape(self.peak_mmse)
        return self.parameters.peak_annual_decline * relative * self.age_factor(age)

    def expected_course(self, current_mmse: float, age: int, months: int) -> float:
        """Expected score after ``months``, integrated one month at a time (midpoint rule).

        A straight line would carry a patient through the floor at the rate of the
        moderate range; integrating lets the rate follow the score as it falls.
        """
        m = float(current_mmse)
        for _ in range(months):
            half = max(0.0, m - self.annual_decline(m, age) / 24.0)
            m = max(0.0, m - self.annual_decline(half, age) / 12.0)
        return m

    def predict(
        self, current_mmse: int, age: int, months: int = DEFAULT_HORIZON_MONTHS
    ) -> MmsePrediction:
        """Predict the MMSE ``months`` ahead (1..60) for a score 0..30 and an age 0..130."""
        current = _check_int("current_mmse", current_mmse, MMSE_MIN, MMSE_MAX)
        age = _check_int("age", age, AGE_MIN, AGE_MAX)
        months = _check_int("months", months, HORIZON_MIN_MONTHS, HORIZON_MAX_MONTHS)
        p = self.parameters

        mean = self.expected_course(current, age, months)
        decline = current - mean
        sd = math.hypot(p.retest_sd, p.rate_cv * decline)

        def interval(z: float) -> Interval:
            low = max(float(MMSE_MIN), mean - z * sd)
            # No true improvement is expected: only test-retest noise lifts a future score.
            high = min(float(MMSE_MAX), mean + z * sd, current + z * p.retest_sd)
            return Interval(round(low, 1), round(high, 1))

        predicted = round(mean, 1)
        return MmsePrediction(
            current_mmse=current,
            age=age,
            horizon_months=months,
            predicted_mmse=predicted,
            expected_annual_decline=round(decline * 12.0 / months, 2),
            uncertainty_sd=round(sd, 2),
            interval_80=interval(Z_80),
            interval_95=interval(Z_95),
            predicted_severity=severity_band(predicted),
            model_version=self.version,
        )


DEFAULT_MODEL: MmsePredictor = PopulationCourseModel()


def predict_mmse(
    current_mmse: int, age: int, months: int = DEFAULT_HORIZON_MONTHS
) -> MmsePrediction:
    """Predict with the default model (:data:`DEFAULT_MODEL`); see the module docstring."""
    return DEFAULT_MODEL.predict(current_mmse, age, months)
