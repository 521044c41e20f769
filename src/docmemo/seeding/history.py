"""Simulated MMSE histories for generated patients (issue 6, part 2).

Every generated patient gets 1-8 past assessments, 4-14 months apart, spanning at most
six years, oldest first, the last one equal to the patient's current score (which SPEC
§2 draws uniformly in 5..30). The histories are simulated from a published *shape* of
the course of Alzheimer's disease that is deliberately not the model fitted on them (a
linear mixed-effects model, ``docmemo.prediction``), so that evaluating that model on
these data is not circular. ``docs/MODEL.md`` describes the simulation for readers.

The course (per patient ``i``, time ``t`` in years)::

    true score    m(u) = LO + (HI - LO) / (1 + exp(u)),   LO = -3, HI = 33
    disease stage u_i(t) = u_i(t_last) + k_i * (t - t_last)
    observed      round(m(u_i(t)) + N(0, RETEST_SD_PER_TEST ** 2)), clipped to 0..30

- A logistic ("inverse S") curve in a latent disease stage: the decline
  ``dm/dt = k (m - LO)(HI - m) / (HI - LO)`` is slow near the ceiling, fastest at
  ``m = 15`` (moderate range) and slow again near the floor, the curvilinear course of
  the MMSE in AD (Stern et al. 1996; Mendiondo et al. 2000; Xie et al. 2009: about 2.2,
  3.8 and 1.6 points/year in the early, middle and late years). The asymptotes lie
  beyond the scale (-3 and 33) so that a patient at 30 or near 0 still moves a little
  (the ceiling and floor effects of the test itself come from clipping the observed
  score, not from the curve).
- Individual rates vary widely (Clark et al. 1999, CERAD: mean 3.4 points/year with a
  wide spread), and a memory clinic also follows people who do not decline (mild
  cognitive impairment that does not progress: Mitchell & Shiri-Feshki 2009; "slow
  progressors", Doody et al. 2001). ``STABLE_SHARE`` = 30 % of patients are
  non-decliners (``k_i`` uniform in 0..0.04/year: at most 0.4 points/year); the others
  have a log-normal ``k_i``, median 0.42/year (a peak decline ``9 k`` of 3.8
  points/year at age 70), log-SD 0.5. Over a CERAD-like population (MMSE about 19,
  age 71) the decliners lose about 4 points a year and everyone together about 3. The
  shares and spread are our assumptions, within those reports.
- Younger patients decline faster (Jacobs et al. 1994; Barnes et al. 2018):
  ``k_i`` is multiplied by ``exp(-0.025 (age - 70))``, clipped to 0.5..1.6.
- Test-retest noise: SD 2.0 points per test, i.e. SD 2.8 for the difference of two
  tests, the CERAD "measurement error" (Clark et al. 1999), within the 2-3 points of
  Tombaugh & McIntyre 1992 and Hensel et al. 2007.

Simulated backwards from the current score: the last observed score is the patient's
current MMSE; the true score at that visit is the current one minus one draw of the test
noise (clipped to 0..30), which fixes ``u_i(t_last)``; earlier visits lie on the same
curve ``k_i * gap`` earlier in stage, each with its own test noise. Visit dates: the
last is 0-90 days before ``today``; going back, gaps are uniform in 122-426 days (4-14
months); a gap that would make the history longer than six years is not taken, so the
number of visits drawn (uniform 1..8) is an upper bound.

Speed: pure Python, a handful of ``random`` calls and one ``exp`` per visit: 3.5 µs a
visit, 16 µs a patient (4.5 visits) on the project's shared 2-core machine, so the
600,000 patients of 1,000,000 users take about 10 s inside the seeding's COPY stream.
Deterministic for a given ``rng`` state.
"""

from __future__ import annotations

import datetime
import math
import random

MMSE_MIN = 0
MMSE_MAX = 30
MIN_VISITS = 1
MAX_VISITS = 8
MIN_GAP_DAYS = 122  # 4 months of 30.44 days, rounded up
MAX_GAP_DAYS = 426  # 14 months
MAX_SPAN_DAYS = 2191  # six years, with one leap day
MAX_DAYS_SINCE_LAST_VISIT = 90

CURVE_LOW = -3.0
CURVE_HIGH = 33.0
MEDIAN_RATE = 0.42  # stage units per year; peak decline 9 * rate points/year
RATE_LOG_SD = 0.5
STABLE_SHARE = 0.3
STABLE_MAX_RATE = 0.04
REFERENCE_AGE = 70
AGE_EFFECT = 0.025  # relative change of the rate per year of age
AGE_FACTOR_MIN = 0.5
AGE_FACTOR_MAX = 1.6
RETEST_SD_PER_TEST = 2.0

_DAYS_PER_YEAR = 365.25
_SPAN = CURVE_HIGH - CURVE_LOW
_LOG_MEDIAN_RATE = math.log(MEDIAN_RATE)


def _individual_rate(rng: random.Random, age: int) -> float:
    """The patient's speed along the course, in stage units per year."""
    if rng.random() < STABLE_SHARE:
        rate = rng.random() * STABLE_MAX_RATE
    else:
        rate = math.exp(rng.gauss(_LOG_MEDIAN_RATE, RATE_LOG_SD))
    age_factor = math.exp(-AGE_EFFECT * (age - REFERENCE_AGE))
    return rate * min(AGE_FACTOR_MAX, max(AGE_FACTOR_MIN, age_factor))


def _observed(true_score: float, noise: float) -> int:
    return min(MMSE_MAX, max(MMSE_MIN, round(true_score + noise)))


def simulate_history(
    rng: random.Random, current_mmse: int, age: int, today: datetime.date
) -> list[tuple[datetime.date, int]]:
    """Past MMSE assessments ``(date, score)`` of one patient, oldest first.

    The last one is ``current_mmse``, dated 0-90 days before ``today``; see the module
    docstring for the course simulated. Uses only ``rng`` for randomness.
    """
    if not MMSE_MIN <= current_mmse <= MMSE_MAX:
        raise ValueError(f"current_mmse must be within 0..30, got {current_mmse}")
    visits = rng.randint(MIN_VISITS, MAX_VISITS)
    last = today - datetime.timedelta(days=rng.randint(0, MAX_DAYS_SINCE_LAST_VISIT))
    offsets: list[int] = []  # days before the last visit, nearest first
    span = 0
    for _ in range(visits - 1):
        gap = rng.randint(MIN_GAP_DAYS, MAX_GAP_DAYS)
        if span + gap > MAX_SPAN_DAYS:
            break
        span += gap
        offsets.append(span)
    if not offsets:
        return [(last, current_mmse)]

    rate_per_day = _individual_rate(rng, age) / _DAYS_PER_YEAR
    gauss = rng.gauss
    true_last = min(float(MMSE_MAX), max(0.0, current_mmse - gauss(0.0, RETEST_SD_PER_TEST)))
    stage_last = math.log((CURVE_HIGH - true_last) / (true_last - CURVE_LOW))
    history: list[tuple[datetime.date, int]] = []
    for offset in reversed(offsets):
        true_score = CURVE_LOW + _SPAN / (1.0 + math.exp(stage_last - rate_per_day * offset))
        history.append(
            (
                last - datetime.timedelta(days=offset),
                _observed(true_score, gauss(0.0, RETEST_SD_PER_TEST)),
            )
        )
    history.append((last, current_mmse))
    return history
