"""The geometry of the MMSE history chart (clinic/charts.py): plain functions, no browser."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from docmemo.clinic.charts import (
    BANDS,
    HEIGHT,
    WIDTH,
    PredictionPoint,
    Visit,
    band_of,
    date_domain,
    describe_history,
    format_day,
    history_chart,
    svg_number,
)
from docmemo.prediction.model import severity_band

FIVE_VISITS = [
    Visit(date(2022, 3, 14), 26),
    Visit(date(2023, 2, 1), 25),
    Visit(date(2024, 4, 20), 23),
    Visit(date(2025, 5, 2), 21),
    Visit(date(2026, 5, 30), 19),
]


def _course(start: date, mean: float = 19.0) -> list[PredictionPoint]:
    """A course from ``start`` over two years, widening and falling."""
    points = []
    for months in (0, 3, 6, 12, 18, 24):
        m = mean - months * 0.25
        spread = 2 + months * 0.2
        points.append(
            PredictionPoint(
                start + timedelta(days=round(months * 30.44)),
                m,
                max(0, m - spread),
                min(30, m + spread),
                max(0, m - 1.6 * spread),
                min(30, m + 1.6 * spread),
            )
        )
    return points


def test_the_bands_cover_0_to_30_exactly_without_gaps_or_overlaps() -> None:
    chart = history_chart(FIVE_VISITS)
    plot = chart.plot
    rects = chart.bands
    assert [r.band.name for r in rects] == ["normal", "mild", "moderate", "severe"]
    assert rects[0].y == pytest.approx(plot.top)
    assert rects[-1].y + rects[-1].height == pytest.approx(plot.bottom)
    for upper, lower in itertools.pairwise(rects):
        assert upper.y + upper.height == pytest.approx(lower.y)
    assert sum(r.height for r in rects) == pytest.approx(plot.height)
    assert all(r.height > 0 and r.x == plot.left and r.width == plot.width for r in rects)
    # Every whole score 0..30 is drawn inside the band of its own name.
    y_of = {
        p.mmse: p.y
        for p in history_chart([Visit(date(2026, 1, d + 1), d) for d in range(30)]).points
    }
    y_of[30] = history_chart([Visit(date(2026, 1, 1), 30)]).points[0].y
    for score, y in y_of.items():
        [inside] = [r for r in rects if r.y <= y <= r.y + r.height]
        assert inside.band.name == severity_band(score)
        assert inside.band.low <= score <= inside.band.high


def test_the_band_table_is_the_spec_s() -> None:
    assert [(b.low, b.high) for b in BANDS] == [(24, 30), (18, 23), (10, 17), (0, 9)]
    assert [band_of(s).name for s in (30, 24, 23, 18, 17, 10, 9, 0)] == [
        "normal",
        "normal",
        "mild",
        "mild",
        "moderate",
        "moderate",
        "severe",
        "severe",
    ]


def test_points_are_inside_the_plot_in_time_order_and_scaled_by_score() -> None:
    chart = history_chart(FIVE_VISITS)
    assert len(chart.points) == 5
    assert all(chart.plot.contains(p.x, p.y) for p in chart.points)
    xs = [p.x for p in chart.points]
    assert xs == sorted(xs) and len(set(xs)) == 5
    # Lower scores lower on the chart (larger y), in proportion.
    ys = [p.y for p in chart.points]
    assert ys == sorted(ys)
    unit = chart.plot.height / 30
    assert chart.points[0].y == pytest.approx(chart.plot.bottom - 26 * unit)
    assert chart.line.count(",") == 5
    assert chart.view_box == f"0 0 {WIDTH} {HEIGHT}"
    assert chart.prediction is None


def test_one_visit_is_in_the_middle_of_a_year() -> None:
    [point] = history_chart([Visit(date(2026, 6, 15), 22)]).points
    chart = history_chart([Visit(date(2026, 6, 15), 22)])
    assert point.x == pytest.approx((chart.plot.left + chart.plot.right) / 2)
    assert chart.plot.contains(point.x, point.y)
    start, end = date_domain([date(2026, 6, 15)])
    assert (end - start).days == 364
    assert chart.x_ticks and all(
        chart.plot.left <= t.position <= chart.plot.right for t in chart.x_ticks
    )


def test_same_day_visits_share_an_x_and_are_all_drawn() -> None:
    day = date(2026, 6, 15)
    chart = history_chart([Visit(day, 22), Visit(day, 25), Visit(day, 24)])
    assert len(chart.points) == 3
    assert len({p.x for p in chart.points}) == 1
    assert all(chart.plot.contains(p.x, p.y) for p in chart.points)
    assert [p.mmse for p in chart.points] == [22, 25, 24]


def test_many_visits_over_decades_stay_inside_with_few_ticks() -> None:
    visits = [Visit(date(1950, 1, 1) + timedelta(days=45 * i), (i * 7) % 31) for i in range(600)]
    chart = history_chart(visits)
    assert len(chart.points) == 600
    assert all(chart.plot.contains(p.x, p.y) for p in chart.points)
    assert 2 <= len(chart.x_ticks) <= 6
    assert all(t.label.isdigit() for t in chart.x_ticks)  # years
    positions = [t.position for t in chart.x_ticks]
    assert positions == sorted(positions)
    assert all(chart.plot.left <= x <= chart.plot.right for x in positions)


def test_date_ticks_fall_on_month_starts_and_alternate_minor_labels() -> None:
    chart = history_chart([Visit(date(2026, 1, 10), 20), Visit(date(2026, 7, 20), 18)])
    labels = [t.label for t in chart.x_ticks]
    assert 2 <= len(labels) <= 6
    assert all(len(label.split()) == 2 for label in labels)  # "Mar 2026": months, not years
    assert [t.minor for t in chart.x_ticks] == [n % 2 == 1 for n in range(len(labels))]
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10", "15", "20", "25", "30"]
    assert [t.minor for t in chart.y_ticks] == [False, True, False, True, False, True, False]


def test_the_prediction_starts_at_the_last_visit_and_widens_ahead() -> None:
    course = _course(FIVE_VISITS[-1].day)
    chart = history_chart(FIVE_VISITS, course)
    shape = chart.prediction
    assert shape is not None
    assert shape.start_x == pytest.approx(chart.points[-1].x)
    assert shape.end_x > shape.start_x
    assert shape.end_x <= chart.plot.right
    # The x axis now reaches the end of the course; the history keeps its place inside.
    assert all(chart.plot.contains(p.x, p.y) for p in chart.points)
    for corners in (shape.corners_80, shape.corners_95):
        assert len(corners) == 2 * len(course)
        assert all(chart.plot.contains(x, y) for x, y in corners)
        assert corners[0][0] == pytest.approx(shape.start_x)
        assert corners[-1][0] == pytest.approx(shape.start_x)
    # The 95 % band contains the 80 % band at every horizon.
    n = len(course)
    for i in range(n):
        assert shape.corners_95[i][1] <= shape.corners_80[i][1]  # upper edge: higher (smaller y)
        assert shape.corners_95[-1 - i][1] >= shape.corners_80[-1 - i][1]
    assert shape.band_95.startswith("M") and shape.band_95.endswith("Z")
    assert shape.band_95.count("L") == 2 * n - 1
    assert len(shape.mean_line.split()) == n


def test_a_prediction_needs_a_start_and_a_horizon() -> None:
    with pytest.raises(ValueError, match="a start and at least one horizon"):
        history_chart(FIVE_VISITS, _course(FIVE_VISITS[-1].day)[:1])
    with pytest.raises(ValueError, match="at least one visit"):
        history_chart([])


def test_the_text_alternative_summarises_the_visits() -> None:
    assert describe_history(FIVE_VISITS) == (
        "5 visits from March 2022 to May 2026; MMSE from 26 to 19 (mild impairment), "
        "lowest 19, highest 26."
    )
    assert describe_history([Visit(date(2026, 6, 15), 8)]) == (
        "1 visit, in June 2026: MMSE 8 (severe impairment)."
    )
    assert format_day(date(2026, 3, 4)) == "4 March 2026"


def test_svg_numbers_are_short() -> None:
    assert [svg_number(v) for v in (44.0, 183.3333, -0.04, 7.06)] == ["44", "183.3", "0", "7.1"]
