"""The population-course MMSE model: shape of the course, uncertainty, bounds, inputs.

These tests need no database. Each one states a property that a wrong model (a constant,
a straight line, an interval that ignores one noise source, no clipping) would break.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from docmemo.prediction.model import (
    MODEL_VERSION,
    Z_95,
    MmsePrediction,
    PopulationCourseModel,
    PopulationCourseParameters,
    predict_mmse,
    severity_band,
)

RETEST_SD = PopulationCourseParameters().retest_sd
ALL_SCORES = range(0, 31)
ALL_HORIZONS = range(1, 61)
SOME_AGES = (0, 40, 70, 75, 90, 130)


def decline_12m(mmse: int, age: int = 75) -> float:
    return predict_mmse(mmse, age).expected_annual_decline


def width_95(p: MmsePrediction) -> float:
    return p.interval_95.high - p.interval_95.low


# --- identity ---------------------------------------------------------------------------


def test_version_string_is_returned_with_every_prediction() -> None:
    assert MODEL_VERSION == "population-course-1.0"
    assert predict_mmse(20, 75).model_version == MODEL_VERSION


def test_default_horizon_is_twelve_months() -> None:
    assert predict_mmse(20, 75).horizon_months == 12
    assert predict_mmse(20, 75) == predict_mmse(20, 75, 12)


def test_prediction_depends_on_score_age_and_horizon() -> None:
    by_score = {predict_mmse(m, 75).predicted_mmse for m in ALL_SCORES}
    assert len(by_score) == len(ALL_SCORES)
    assert predict_mmse(20, 60).predicted_mmse != predict_mmse(20, 85).predicted_mmse
    assert predict_mmse(20, 75, 6).predicted_mmse != predict_mmse(20, 75, 18).predicted_mmse


def test_prediction_is_immutable() -> None:
    p = predict_mmse(20, 75)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.predicted_mmse = 30.0  # type: ignore[misc]


# --- course of the disease --------------------------------------------------------------


@pytest.mark.parametrize("age", SOME_AGES)
@pytest.mark.parametrize("mmse", ALL_SCORES)
def test_longer_horizon_lower_or_equal_prediction_and_no_narrower_uncertainty(
    mmse: int, age: int
) -> None:
    previous = predict_mmse(mmse, age, 1)
    for months in range(2, 61):
        current = predict_mmse(mmse, age, months)
        assert current.predicted_mmse <= previous.predicted_mmse
        assert current.uncertainty_sd >= previous.uncertainty_sd
        previous = current


def test_interval_widens_with_horizon_when_the_score_can_fall() -> None:
    one, twelve, thirty_six = (predict_mmse(20, 75, n) for n in (1, 12, 36))
    assert one.uncertainty_sd < twelve.uncertainty_sd < thirty_six.uncertainty_sd
    assert width_95(one) < width_95(twelve) < width_95(thirty_six)


def test_decline_is_fastest_in_the_moderate_range_at_about_four_points() -> None:
    model = PopulationCourseModel()
    rates = {m: model.annual_decline(m, 70) for m in ALL_SCORES}
    fastest = max(rates, key=rates.__getitem__)
    assert 12 <= fastest <= 18
    assert 3.5 <= rates[fastest] <= 4.5


def test_decline_is_slower_in_the_mild_range_and_near_the_floor_than_when_moderate() -> None:
    moderate = decline_12m(15)
    for mild in (20, 22, 24, 26):
        assert decline_12m(mild) < moderate
    for near_floor in (0, 2, 4, 6):
        assert decline_12m(near_floor) < moderate
    assert decline_12m(30) < decline_12m(26) < decline_12m(22)
    assert decline_12m(2) < decline_12m(5) < decline_12m(10)


def test_no_decline_at_the_floor() -> None:
    p = predict_mmse(0, 75, 60)
    assert p.predicted_mmse == 0.0
    assert p.expected_annual_decline == 0.0


def test_course_slows_when_the_patient_reaches_the_floor_instead_of_a_straight_line() -> None:
    start = 8
    one_year = predict_mmse(start, 75, 12)
    five_years = predict_mmse(start, 75, 60)
    # A straight line at the one-year rate would hit 0 within five years.
    assert start - 5 * one_year.expected_annual_decline < 0
    assert five_years.predicted_mmse > 0
    assert five_years.expected_annual_decline < one_year.expected_annual_decline


def test_course_speeds_up_when_a_mild_patient_becomes_moderate() -> None:
    one_year = predict_mmse(24, 75, 12)
    three_years = predict_mmse(24, 75, 36)
    assert three_years.expected_annual_decline > one_year.expected_annual_decline


@pytest.mark.parametrize("mmse", [8, 15, 20, 26])
def test_older_patients_decline_more_slowly(mmse: int) -> None:
    assert decline_12m(mmse, 85) < decline_12m(mmse, 70) < decline_12m(mmse, 55)
    rates = [decline_12m(mmse, age) for age in range(0, 131)]
    assert all(a >= b for a, b in itertools.pairwise(rates))


def test_age_effect_is_bounded() -> None:
    assert decline_12m(15, 0) == decline_12m(15, 40)
    assert decline_12m(15, 100) == decline_12m(15, 130)
    assert decline_12m(15, 130) > 0
    assert decline_12m(15, 0) / decline_12m(15, 130) < 3


def test_average_one_year_decline_of_a_typical_clinic_population() -> None:
    declines = [decline_12m(m, 75) for m in range(10, 27)]
    assert 3.0 <= sum(declines) / len(declines) <= 4.0


# --- uncertainty ------------------------------------------------------------------------


def test_at_one_month_the_interval_is_test_retest_noise() -> None:
    p = predict_mmse(20, 75, 1)
    assert p.uncertainty_sd == pytest.approx(RETEST_SD, abs=0.1)
    half_width = width_95(p) / 2
    assert 4.5 <= half_width <= 6.0


def test_uncertainty_combines_retest_noise_and_rate_variability() -> None:
    cv = PopulationCourseParameters().rate_cv
    for months in (12, 24, 48):
        p = predict_mmse(18, 75, months)
        decline = p.current_mmse - p.predicted_mmse
        expected = math.hypot(RETEST_SD, cv * decline)
        assert p.uncertainty_sd == pytest.approx(expected, abs=0.05)
        assert p.uncertainty_sd > RETEST_SD
        assert p.uncertainty_sd > cv * decline


def test_without_rate_variability_only_retest_noise_is_left() -> None:
    model = PopulationCourseModel(PopulationCourseParameters(rate_cv=0.0), version="test")
    p = model.predict(18, 75, 48)
    assert p.uncertainty_sd == pytest.approx(RETEST_SD)
    assert p.model_version == "test"
    assert p.predicted_mmse == predict_mmse(18, 75, 48).predicted_mmse


def test_unclipped_interval_is_centred_on_the_mean_with_normal_quantiles() -> None:
    p = predict_mmse(18, 75, 12)
    assert p.interval_95.low == pytest.approx(p.predicted_mmse - Z_95 * p.uncertainty_sd, abs=0.1)
    assert p.interval_80.low == pytest.approx(p.predicted_mmse - 1.2816 * p.uncertainty_sd, abs=0.1)
    assert p.interval_80.high == pytest.approx(
        p.predicted_mmse + 1.2816 * p.uncertainty_sd, abs=0.1
    )


# --- bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize("age", SOME_AGES)
@pytest.mark.parametrize("months", [1, 12, 60])
@pytest.mark.parametrize("mmse", ALL_SCORES)
def test_nested_intervals_within_the_scale(mmse: int, months: int, age: int) -> None:
    p = predict_mmse(mmse, age, months)
    lo95, lo80, mean, hi80, hi95 = (
        p.interval_95.low,
        p.interval_80.low,
        p.predicted_mmse,
        p.interval_80.high,
        p.interval_95.high,
    )
    assert 0 <= lo95 <= lo80 <= mean <= hi80 <= hi95 <= 30
    assert lo95 < hi95
    assert mean <= mmse
    # Only measurement noise can put a future score above today's.
    assert hi95 <= mmse + Z_95 * RETEST_SD + 0.05


def test_extremes_are_clipped_to_the_scale() -> None:
    top = predict_mmse(30, 75, 12)
    assert top.interval_95.high == 30.0
    assert top.interval_80.high == 30.0
    assert top.predicted_mmse < 30

    bottom = predict_mmse(0, 75, 12)
    assert bottom.interval_95.low == 0.0
    assert bottom.interval_80.low == 0.0
    assert bottom.interval_95.high == pytest.approx(Z_95 * RETEST_SD, abs=0.1)

    far = predict_mmse(10, 75, 60)
    assert far.interval_95.low == 0.0
    assert far.predicted_mmse >= 0

    far_top = predict_mmse(30, 40, 60)
    assert far_top.interval_95.high == 30.0
    assert far_top.predicted_mmse < 24  # five years of the course from 30, at age 40


# --- severity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (30, "normal"),
        (24, "normal"),
        (23.5, "normal"),
        (23.4, "mild"),
        (23, "mild"),
        (18, "mild"),
        (17, "moderate"),
        (10, "moderate"),
        (9.4, "severe"),
        (9, "severe"),
        (0, "severe"),
    ],
)
def test_severity_bands_follow_the_spec(score: float, band: str) -> None:
    assert severity_band(score) == band


def test_predicted_severity_is_the_band_of_the_predicted_score() -> None:
    assert predict_mmse(30, 75, 1).predicted_severity == "normal"
    assert predict_mmse(15, 75, 60).predicted_severity == "severe"
    for mmse in ALL_SCORES:
        p = predict_mmse(mmse, 75)
        assert p.predicted_severity == severity_band(p.predicted_mmse)


# --- inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mmse", "age", "months"),
    [
        (-1, 75, 12),
        (31, 75, 12),
        (20, -1, 12),
        (20, 131, 12),
        (20, 75, 0),
        (20, 75, 61),
        (20, 75, -12),
        (20.5, 75, 12),
        ("20", 75, 12),
        (True, 75, 12),
        (20, 75, 12.0),
        (None, 75, 12),
    ],
)
def test_invalid_inputs_raise_value_error(mmse: object, age: object, months: object) -> None:
    with pytest.raises(ValueError, match=r"mmse|age|months"):
        predict_mmse(mmse, age, months)  # type: ignore[arg-type]


@pytest.mark.parametrize(("mmse", "age", "months"), [(0, 0, 1), (30, 130, 60)])
def test_boundary_inputs_are_accepted(mmse: int, age: int, months: int) -> None:
    assert predict_mmse(mmse, age, months).horizon_months == months
