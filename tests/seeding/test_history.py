"""The simulated MMSE histories of generated patients (issue 6, part 2), without a database."""

from __future__ import annotations

import datetime
import itertools
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docmemo.seeding.history import (
    MAX_DAYS_SINCE_LAST_VISIT,
    MAX_GAP_DAYS,
    MAX_SPAN_DAYS,
    MAX_VISITS,
    MIN_GAP_DAYS,
    simulate_history,
)

TODAY = datetime.date(2026, 3, 15)


@pytest.fixture(scope="module")
def histories() -> list[tuple[int, int, list[tuple[datetime.date, int]]]]:
    """(current score, age, history) for 20,000 patients drawn as SPEC §2 draws them."""
    rng = random.Random(7)
    out = []
    for _ in range(20_000):
        current, age = rng.randint(5, 30), rng.randint(25, 90)
        out.append((current, age, simulate_history(rng, current, age, TODAY)))
    return out


@given(
    seed=st.integers(0, 2**32),
    current=st.integers(0, 30),
    age=st.integers(25, 90),
)
def test_every_history_keeps_the_rules(seed: int, current: int, age: int) -> None:
    history = simulate_history(random.Random(seed), current, age, TODAY)
    assert 1 <= len(history) <= MAX_VISITS
    dates = [d for d, _ in history]
    assert all(0 <= score <= 30 and isinstance(score, int) for _, score in history)
    assert history[-1][1] == current
    assert 0 <= (TODAY - dates[-1]).days <= MAX_DAYS_SINCE_LAST_VISIT
    gaps = [(b - a).days for a, b in itertools.pairwise(dates)]
    assert all(MIN_GAP_DAYS <= gap <= MAX_GAP_DAYS for gap in gaps)
    assert (dates[-1] - dates[0]).days <= MAX_SPAN_DAYS


def test_gaps_are_four_to_fourteen_average_months() -> None:
    """122..426 days is 4..14 months of 30.44 days."""
    assert MIN_GAP_DAYS / 30.44 >= 4.0
    assert MAX_GAP_DAYS / 30.44 <= 14.0


def test_the_same_rng_state_gives_the_same_history() -> None:
    first = [simulate_history(random.Random(42), m, 70, TODAY) for m in range(31)]
    second = [simulate_history(random.Random(42), m, 70, TODAY) for m in range(31)]
    assert first == second
    assert [simulate_history(random.Random(43), 20, 70, TODAY) for _ in range(5)] != first[20:25]


def test_out_of_range_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="current_mmse"):
        simulate_history(random.Random(1), 31, 70, TODAY)


def test_every_count_of_visits_occurs(histories) -> None:
    counts = {len(h) for _, _, h in histories}
    assert counts == set(range(1, MAX_VISITS + 1))
    mean_visits = statistics.mean(len(h) for _, _, h in histories)
    assert 3.5 < mean_visits < 5.0  # uniform 1..8, a little less for the six-year cap


def _annual_decline(history: list[tuple[datetime.date, int]]) -> float:
    years = (history[-1][0] - history[0][0]).days / 365.25
    return (history[0][1] - history[-1][1]) / years


def test_patients_decline_on_average_and_at_widely_varying_rates(histories) -> None:
    long = [(c, a, h) for c, a, h in histories if (h[-1][0] - h[0][0]).days > 3 * 365]
    rates = [_annual_decline(h) for _, _, h in long]
    assert 1.5 < statistics.mean(rates) < 4.0
    deciles = statistics.quantiles(rates, n=10)
    assert deciles[0] < 0.5  # the stable tenth
    assert deciles[-1] > 4.0  # fast decliners
    assert statistics.stdev(rates) > 1.5


def test_decline_is_fastest_in_the_moderate_range(histories) -> None:
    """The inverse S: patients now at 25..30 lost less per year than those now moderate."""
    long = [h for _, _, h in histories if (h[-1][0] - h[0][0]).days > 2 * 365]
    near_normal = [_annual_decline(h) for h in long if 25 <= h[-1][1] <= 30]
    moderate = [_annual_decline(h) for h in long if 10 <= h[-1][1] <= 17]
    assert statistics.mean(moderate) > statistics.mean(near_normal) + 1.0


def test_younger_patients_decline_faster(histories) -> None:
    long = [(a, h) for _, a, h in histories if (h[-1][0] - h[0][0]).days > 2 * 365]
    young = [_annual_decline(h) for a, h in long if a < 50 and 10 <= h[-1][1] <= 20]
    old = [_annual_decline(h) for a, h in long if a > 75 and 10 <= h[-1][1] <= 20]
    assert statistics.mean(young) > statistics.mean(old) + 0.5


def test_test_retest_noise_is_two_to_three_points(histories) -> None:
    """Stable stretches: consecutive visits of slow-changing patients differ by SD 2.0..3.5."""
    differences = []
    for _, _, h in histories:
        # Scores far from the floor and ceiling, where clipping does not hide the noise.
        if len(h) >= 4 and all(8 <= s <= 24 for _, s in h) and abs(_annual_decline(h)) < 0.5:
            differences.extend(b - a for (_, a), (_, b) in itertools.pairwise(h))
    assert len(differences) > 200
    assert 2.0 < statistics.pstdev(differences) < 3.5
