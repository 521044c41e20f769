"""The lme-2.1 predictor's arithmetic, on hand-written parameters (no fit, no database).

The conditional (BLUP) prediction is checked against the textbook matrix formulas
computed with numpy; the rest are properties a wrong predictor would break.
"""

from __future__ import annotations

import datetime
import math

import numpy as np
import pytest

from docmemo.prediction.model import Z_80, Z_95, predict_mmse
from docmemo.prediction.progression import (
    FIXED_EFFECT_NAMES,
    POPULATION_COURSE,
    LmeModel,
    LmeParameters,
    Visit,
    add_months,
    fixed_design,
    random_design,
    slope_scale,
    years_between,
)

TODAY = datetime.date(2026, 6, 15)
G = ((2.0, 0.3, 0.5), (0.3, 1.0, 0.4), (0.5, 0.4, 0.8))
G_LME_2_0 = ((2.0, 0.3), (0.3, 1.0))  # intercept and slope only
S2 = 4.0


def parameters(cov=G, **effects: float) -> LmeParameters:
    """A model whose fixed effects are zero except the named ones (``:`` as ``__``)."""
    named = {name.replace(":", "__").replace("^", "_"): 0.0 for name in FIXED_EFFECT_NAMES}
    named.update(effects)
    return LmeParameters(tuple(named.values()), cov, S2)


# 20 points at the anchor's level of 20 (B = 0), falling 2 points a year before and after.
DECLINE = parameters(intercept=20.0, level=10.0, past=-2.0, time=-2.0)
DECLINE_LME_2_0 = parameters(G_LME_2_0, intercept=20.0, level=10.0, past=-2.0, time=-2.0)


def yearly(scores: list[int], last: datetime.date = TODAY) -> list[Visit]:
    n = len(scores)
    return [
        Visit(last - datetime.timedelta(days=round(365.25 * (n - 1 - i))), s)
        for i, s in enumerate(scores)
    ]


def brute_force(params: LmeParameters, visits: list[Visit], age: int, target: datetime.date):
    """Mean and variance of the score on ``target`` by the matrix formulas of an LMM."""
    anchor, earlier = visits[-1], visits[:-1]
    beta = np.array(params.fixed_effects)
    g = np.array(params.random_effects_cov)

    def t(day: datetime.date) -> float:
        return years_between(anchor.assessed_at, day)

    k = len(params.random_effects_cov)

    def z_row(day: datetime.date) -> list[float]:
        b = (anchor.mmse - 20) / 10
        ts = t(day) * slope_scale(anchor.mmse)
        return [1.0, ts, ts * b][:k]

    x_star = np.array(fixed_design(anchor.mmse, age, t(target)))
    z_star = np.array(z_row(target))
    if not earlier:
        return x_star @ beta, z_star @ g @ z_star + params.residual_variance
    x = np.array([fixed_design(anchor.mmse, age, t(v.assessed_at)) for v in earlier])
    z = np.array([z_row(v.assessed_at) for v in earlier])
    y = np.array([v.mmse for v in earlier], dtype=float)
    v_inv = np.linalg.inv(z @ g @ z.T + params.residual_variance * np.eye(len(earlier)))
    u = g @ z.T @ v_inv @ (y - x @ beta)
    p = g - g @ z.T @ v_inv @ z @ g
    return x_star @ beta + z_star @ u, z_star @ p @ z_star + params.residual_variance


@pytest.mark.parametrize("params", [DECLINE, DECLINE_LME_2_0], ids=["lme-2.1", "lme-2.0"])
@pytest.mark.parametrize(
    ("scores", "age", "months"),
    [
        ([20], 70, 12),
        ([24, 22], 60, 6),
        ([26, 24, 22, 20], 75, 12),
        ([21, 20, 22, 20], 85, 36),
        ([23, 18, 25, 20], 50, 60),
        ([29, 28, 29, 28], 80, 12),
        ([12, 10, 9, 7], 70, 24),
    ],
)
def test_the_prediction_is_the_conditional_estimate_of_a_mixed_model(params, scores, age, months):
    visits = yearly(scores)
    model = LmeModel(params, "test")
    target = add_months(TODAY, months)
    expected_mean, expected_variance = brute_force(params, visits, age, target)
    mean, sd, used = model.mean_and_sd(visits, age, target)
    assert mean == pytest.approx(expected_mean, abs=1e-9)
    assert sd == pytest.approx(math.sqrt(expected_variance), abs=1e-9)
    assert used == len(scores)


def test_one_visit_gives_the_population_course() -> None:
    model = LmeModel(DECLINE, "test")
    one_year = model.forecast([Visit(TODAY, 20)], 70, TODAY, 12)
    assert one_year.predicted_mmse == pytest.approx(18.0, abs=0.05)
    assert one_year.visits_used == 1
    _, sd, _ = model.mean_and_sd([Visit(TODAY, 20)], 70, add_months(TODAY, 12))
    t = years_between(TODAY, add_months(TODAY, 12)) * slope_scale(20)
    # At the level of 20 (B = 0) the third random effect does not count.
    assert random_design(20, 1.0)[2] == 0.0
    assert sd == pytest.approx(math.sqrt(2.0 + 2 * 0.3 * t + 1.0 * t * t + S2))


def test_the_patient_s_own_visits_move_the_prediction() -> None:
    model = LmeModel(DECLINE, "test")
    steep = model.forecast(yearly([29, 26, 23, 20]), 70, TODAY, 12)
    expected = model.forecast(yearly([26, 24, 22, 20]), 70, TODAY, 12)
    flat = model.forecast(yearly([20, 20, 20, 20]), 70, TODAY, 12)
    assert steep.predicted_mmse < expected.predicted_mmse < flat.predicted_mmse
    assert flat.predicted_mmse <= 20.0
    # More visits, less uncertainty about this patient.
    assert flat.uncertainty_sd < model.forecast([Visit(TODAY, 20)], 70, TODAY, 12).uncertainty_sd


def test_only_the_visits_of_the_window_count() -> None:
    model = LmeModel(DECLINE, "test")
    recent = yearly([24, 22, 20])
    with_old = [Visit(recent[0].assessed_at - datetime.timedelta(days=3 * 365), 5), *recent]
    assert model.forecast(with_old, 70, TODAY, 12) == model.forecast(recent, 70, TODAY, 12)


def test_the_course_never_rises_after_the_last_visit() -> None:
    improving = parameters(intercept=20.0, level=10.0, time=1.5)
    model = LmeModel(improving, "test")
    for months in (1, 12, 60):
        assert model.forecast([Visit(TODAY, 20)], 70, TODAY, months).predicted_mmse == 20.0
    # A patient who improved: at most the level estimated at the last visit.
    rising = model.forecast(yearly([14, 16, 18, 20]), 70, TODAY, 24)
    assert rising.predicted_mmse <= 20.5


def test_everything_is_clipped_to_the_scale() -> None:
    model = LmeModel(parameters(intercept=20.0, level=10.0, time=-8.0), "test")
    low = model.forecast([Visit(TODAY, 3)], 70, TODAY, 60)
    assert low.predicted_mmse == 0.0
    assert low.interval_95.low == 0.0
    assert low.predicted_severity == "severe"
    high = model.forecast([Visit(TODAY, 30)], 70, TODAY, 1)
    assert high.interval_95.high == 30.0
    assert high.predicted_severity == "normal"


def test_intervals_are_nested_and_widen_with_the_horizon() -> None:
    model = LmeModel(DECLINE, "test")
    widths = []
    for months in (1, 6, 12, 24, 36):
        f = model.forecast(yearly([24, 22, 20]), 70, TODAY, months)
        assert f.interval_95.low <= f.interval_80.low <= f.predicted_mmse
        assert f.predicted_mmse <= f.interval_80.high <= f.interval_95.high
        widths.append(f.interval_95.high - f.interval_95.low)
    assert widths == sorted(widths)
    assert widths[0] < widths[-1]


def test_calibrated_multipliers_set_the_interval_widths() -> None:
    narrow = LmeModel(DECLINE, "test").forecast(yearly([22, 20]), 70, TODAY, 12)
    wide_params = LmeParameters(DECLINE.fixed_effects, G, S2, z_80=2 * Z_80, z_95=2 * Z_95)
    wide = LmeModel(wide_params, "test").forecast(yearly([22, 20]), 70, TODAY, 12)
    assert wide.predicted_mmse == narrow.predicted_mmse
    narrow_half = narrow.interval_80.high - narrow.predicted_mmse
    assert wide.interval_80.high - wide.predicted_mmse == pytest.approx(2 * narrow_half, abs=0.15)
    assert wide.uncertainty_sd == pytest.approx(2 * narrow.uncertainty_sd, abs=0.02)


def test_the_forecast_names_its_horizon_model_and_band() -> None:
    fitted_at = datetime.datetime(2026, 6, 1, 9, 30, tzinfo=datetime.UTC)
    model = LmeModel(DECLINE, "lme-2.0-test", fitted_at)
    f = model.forecast(yearly([26, 24, 22, 20]), 75, TODAY, 18)
    assert (f.horizon_months, f.target_date) == (18, datetime.date(2027, 12, 15))
    assert (f.model_version, f.model_fitted_at) == ("lme-2.0-test", fitted_at)
    assert f.current_mmse == 20
    assert f.expected_annual_decline == pytest.approx((20 - f.predicted_mmse) * 12 / 18, abs=0.01)
    assert f.predicted_severity == "moderate"  # 20 - 3 points = 17


@pytest.mark.parametrize("months", [0, 61, -1])
def test_horizons_outside_1_to_60_months_are_refused(months: int) -> None:
    with pytest.raises(ValueError, match="months"):
        LmeModel(DECLINE, "test").forecast([Visit(TODAY, 20)], 70, TODAY, months)
    with pytest.raises(ValueError, match="months"):
        POPULATION_COURSE.forecast([Visit(TODAY, 20)], 70, TODAY, months)


def test_no_visit_no_prediction() -> None:
    with pytest.raises(ValueError, match="visit"):
        LmeModel(DECLINE, "test").forecast([], 70, TODAY, 12)


def test_individual_rates_vary_most_in_the_middle_of_the_scale() -> None:
    assert slope_scale(14) == pytest.approx(1.0, abs=0.01)
    assert slope_scale(30) == slope_scale(0) == 0.25
    assert slope_scale(28) < slope_scale(22) < slope_scale(17)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (datetime.date(2026, 1, 31), 1, datetime.date(2026, 2, 28)),
        (datetime.date(2024, 1, 31), 1, datetime.date(2024, 2, 29)),
        (datetime.date(2026, 11, 15), 2, datetime.date(2027, 1, 15)),
        (datetime.date(2026, 12, 31), 60, datetime.date(2031, 12, 31)),
    ],
)
def test_months_are_calendar_months(day, months, expected) -> None:
    assert add_months(day, months) == expected


def test_parameters_survive_their_stored_form() -> None:
    stored = DECLINE.to_json()
    assert stored["method"] == "lme-2.1"
    assert set(stored["fixed_effects"]) == set(FIXED_EFFECT_NAMES)
    assert LmeParameters.from_json(stored) == DECLINE


def test_a_stored_lme_2_0_model_is_still_read_and_served() -> None:
    stored = DECLINE_LME_2_0.to_json()
    assert stored["method"] == "lme-2.0"
    read = LmeParameters.from_json(stored)
    assert read == DECLINE_LME_2_0
    assert read.n_random == 2
    assert LmeModel(read, "lme-2.0-old").forecast(yearly([22, 21, 20]), 70, TODAY, 12)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.update(method="lme-9.0"),
        lambda p: p.update(method="lme-2.0"),  # 3 random effects: not an lme-2.0 row
        lambda p: p.update(random_effects_cov=[[1.0, 0.0], [0.0, 1.0]]),  # 2 for lme-2.1
        lambda p: p.update(random_effects_cov=[[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.9, 1.0]]),
        lambda p: p["fixed_effects"].pop("time"),
        lambda p: p.update(random_effects_cov=[[1.0, 2.0], [2.0, 1.0]]),  # not positive
        lambda p: p.update(residual_variance=0.0),
        lambda p: p.update(z_80=3.0),  # wider than z_95
        lambda p: p.update(level_center_scale=[15.0, 10.0]),
        lambda p: p.update(knots_years=[2.0]),
        lambda p: p.update(residual_variance="a lot"),
    ],
)
def test_unreadable_parameters_are_refused(damage) -> None:
    stored = DECLINE.to_json()
    damage(stored)
    with pytest.raises(ValueError):  # noqa: PT011 - each damage has its own message
        LmeParameters.from_json(stored)


def test_the_first_version_is_served_through_the_same_interface() -> None:
    f = POPULATION_COURSE.forecast([Visit(TODAY, 22)], 75, TODAY, 12)
    v1 = predict_mmse(22, 75, 12)
    assert f.predicted_mmse == v1.predicted_mmse
    assert (f.interval_80, f.interval_95) == (v1.interval_80, v1.interval_95)
    assert (f.model_version, f.model_fitted_at, f.visits_used) == ("population-course-1.0", None, 1)
    # Counted from the last visit: two months ago and twelve ahead is fourteen.
    earlier = POPULATION_COURSE.forecast(
        [Visit(add_months(TODAY, -2), 22)], 75, TODAY, 12
    ).predicted_mmse
    assert earlier == predict_mmse(22, 75, 14).predicted_mmse
