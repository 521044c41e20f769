"""The geometry of the web app's charts, in plain Python: scales, ticks, the shaded
severity bands, the visits and the prediction's bands, as numbers and SVG path strings
that a template writes into an inline ``<svg>`` (no JavaScript chart library: the
chart is on the page as the server sent it, and the CSP allows no inline script).

Coordinates are SVG user units of a ``viewBox`` of ``WIDTH`` x ``HEIGHT``; the page
scales the drawing to its width (``width: 100%``), and its style sheet enlarges the
labels on a narrow screen and hides those of the ``minor`` ticks, so that at 360 px
they stay readable and do not overlap.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from docmemo.prediction.model import MMSE_MAX, MMSE_MIN, Severity, severity_band

WIDTH = 560
HEIGHT = 300
# Room for the y labels on the left, the x labels below and the axis title above.
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44.0, 14.0, 30.0, 36.0
MAX_X_TICKS = 6
Y_TICKS = (0, 5, 10, 15, 20, 25, 30)
# Months between two date ticks, the smallest that keeps at most MAX_X_TICKS.
_TICK_STEPS_MONTHS = (1, 2, 3, 6, 12, 24, 60, 120, 240, 600)
# A single day (one visit, or several on the same day) is shown in a year around it.
_LONE_DAY_PADDING_DAYS = 182
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class Band(NamedTuple):
    """One SPEC severity band on the MMSE scale: whole scores ``low``..``high``."""

    name: Severity
    words: str
    low: int
    high: int


# Top to bottom, as the chart draws them (SPEC: 24-30 normal ... 0-9 severe).
BANDS = (
    Band("normal", "normal", 24, 30),
    Band("mild", "mild impairment", 18, 23),
    Band("moderate", "moderate impairment", 10, 17),
    Band("severe", "severe impairment", 0, 9),
)


def band_of(score: float) -> Band:
    """The severity band of a score (a fractional one counts as its nearest whole point)."""
    name = severity_band(score)
    return next(band for band in BANDS if band.name == name)


def format_day(day: datetime.date, *, short: bool = False) -> str:
    """``14 March 2026`` (``14 Mar 2026`` if short): the same on every server, whatever
    its locale."""
    month = _MONTHS[day.month - 1]
    return f"{day.day} {month[:3] if short else month} {day.year}"


def format_month(day: datetime.date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.year}"


class Visit(NamedTuple):
    """One assessment, as the chart needs it."""

    day: datetime.date
    mmse: int


class PredictionPoint(NamedTuple):
    """The predicted score on one day: mean, 80 % and 95 % intervals."""

    day: datetime.date
    mean: float
    low_80: float
    high_80: float
    low_95: float
    high_95: float


@dataclass(frozen=True, slots=True)
class Box:
    """The plot area, in user units (y grows downwards, as in SVG)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.top <= y <= self.bottom


@dataclass(frozen=True, slots=True)
class LinearScale:
    """Maps ``[domain_start, domain_end]`` onto ``[range_start, range_end]``."""

    domain_start: float
    domain_end: float
    range_start: float
    range_end: float

    def __post_init__(self) -> None:
        if self.domain_end == self.domain_start:
            raise ValueError("a scale needs a domain of non-zero width")

    def __call__(self, value: float) -> float:
        share = (value - self.domain_start) / (self.domain_end - self.domain_start)
        return self.range_start + share * (self.range_end - self.range_start)


@dataclass(frozen=True, slots=True)
class DateScale:
    """A linear scale on days."""

    start: datetime.date
    end: datetime.date
    scale: LinearScale

    def __call__(self, day: datetime.date) -> float:
        return self.scale(day.toordinal())


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str
    minor: bool = False  # its label is hidden on a narrow screen


@dataclass(frozen=True, slots=True)
class BandRect:
    """A severity band shaded across the plot (``band.name`` is its CSS class suffix)."""

    band: Band
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class ChartPoint:
    x: float
    y: float
    day: datetime.date
    mmse: int

    @property
    def label(self) -> str:
        return f"{format_day(self.day)}: MMSE {self.mmse}, {band_of(self.mmse).words}"


@dataclass(frozen=True, slots=True)
class PredictionShape:
    """The prediction drawn ahead of the last visit: two band polygons (SVG path data),
    the mean as a polyline, and where it starts and ends on the x axis."""

    band_95: str
    band_80: str
    mean_line: str
    start_x: float
    end_x: float
    corners_95: tuple[tuple[float, float], ...]
    corners_80: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class HistoryChart:
    width: float
    height: float
    plot: Box
    bands: tuple[BandRect, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    points: tuple[ChartPoint, ...]
    line: str  # SVG polyline points, the visits in order
    prediction: PredictionShape | None

    @property
    def view_box(self) -> str:
        return f"0 0 {svg_number(self.width)} {svg_number(self.height)}"


def svg_number(value: float) -> str:
    """A coordinate as SVG text: one decimal is finer than a pixel at any width here."""
    text = f"{value:.1f}"
    text = text[:-2] if text.endswith(".0") else text
    return "0" if text == "-0" else text


def mmse_scale(plot: Box) -> LinearScale:
    """MMSE 0 at the bottom of the plot, 30 at the top."""
    return LinearScale(MMSE_MIN, MMSE_MAX, plot.bottom, plot.top)


def date_domain(days: Sequence[datetime.date]) -> tuple[datetime.date, datetime.date]:
    """The days the x axis spans: all of ``days`` with a little room on each side,
    a year around them if they are all the same day."""
    if not days:
        raise ValueError("a time axis needs at least one day")
    first, last = min(days), max(days)
    span = (last - first).days
    padding = _LONE_DAY_PADDING_DAYS if span == 0 else max(15, round(span * 0.04))
    return first - datetime.timedelta(days=padding), last + datetime.timedelta(days=padding)


def date_ticks(scale: DateScale, max_ticks: int = MAX_X_TICKS) -> tuple[Tick, ...]:
    """Ticks on the first day of a month, every 1, 2, 3, 6 months or 1, 2, 5... years,
    the smallest step that gives at most ``max_ticks``; every other label is minor."""
    start_index = scale.start.year * 12 + scale.start.month - 1
    end_index = scale.end.year * 12 + scale.end.month - 1
    for step in _TICK_STEPS_MONTHS:
        first = -(-start_index // step) * step  # the first multiple of step >= start
        indices = [i for i in range(first, end_index + 1, step) if _month_start(i) >= scale.start]
        if len(indices) <= max_ticks:
            break
    ticks = []
    for n, index in enumerate(indices):
        day = _month_start(index)
        label = str(day.year) if step >= 12 else f"{_MONTHS[day.month - 1][:3]} {day.year}"
        ticks.append(Tick(scale(day), label, minor=n % 2 == 1))
    return tuple(ticks)


def _month_start(index: int) -> datetime.date:
    year, month = divmod(index, 12)
    return datetime.date(year, month + 1, 1)


def band_rects(plot: Box, y: LinearScale) -> tuple[BandRect, ...]:
    """The four bands, top to bottom, meeting at the half points (23.5, 17.5, 9.5)
    where severity_band changes, so a whole score sits inside its own band."""
    rects = []
    for band in BANDS:
        top = y(min(MMSE_MAX, band.high + 0.5))
        bottom = y(max(MMSE_MIN, band.low - 0.5))
        rects.append(BandRect(band, plot.left, top, plot.width, bottom - top))
    return tuple(rects)


def _polygon(corners: Sequence[tuple[float, float]]) -> str:
    head, *rest = corners
    return (
        f"M{svg_number(head[0])},{svg_number(head[1])}"
        + "".join(f"L{svg_number(x)},{svg_number(y)}" for x, y in rest)
        + "Z"
    )


def _band_corners(
    points: Sequence[PredictionPoint], x: DateScale, y: LinearScale, level: int
) -> tuple[tuple[float, float], ...]:
    """Along the upper bound forwards, then back along the lower bound."""
    upper = [(x(p.day), y(p.high_80 if level == 80 else p.high_95)) for p in points]
    lower = [(x(p.day), y(p.low_80 if level == 80 else p.low_95)) for p in points]
    return (*upper, *reversed(lower))


def prediction_shape(
    points: Sequence[PredictionPoint], x: DateScale, y: LinearScale
) -> PredictionShape:
    """The prediction's bands and mean line; ``points`` in time order, the first on the
    day of the last visit."""
    if len(points) < 2:
        raise ValueError("a predicted course needs a start and at least one horizon")
    corners_95 = _band_corners(points, x, y, 95)
    corners_80 = _band_corners(points, x, y, 80)
    return PredictionShape(
        band_95=_polygon(corners_95),
        band_80=_polygon(corners_80),
        mean_line=" ".join(f"{svg_number(x(p.day))},{svg_number(y(p.mean))}" for p in points),
        start_x=x(points[0].day),
        end_x=x(points[-1].day),
        corners_95=corners_95,
        corners_80=corners_80,
    )


def history_chart(
    visits: Sequence[Visit],
    prediction: Sequence[PredictionPoint] | None = None,
    *,
    width: float = WIDTH,
    height: float = HEIGHT,
) -> HistoryChart:
    """The MMSE history chart: the visits (in the order given, oldest first) as points
    joined by a line over the shaded severity bands, and the predicted course ahead of
    the last visit when ``prediction`` is given (its first point on that day)."""
    if not visits:
        raise ValueError("a history chart needs at least one visit")
    plot = Box(MARGIN_LEFT, MARGIN_TOP, width - MARGIN_RIGHT, height - MARGIN_BOTTOM)
    days = [v.day for v in visits] + [p.day for p in prediction or ()]
    start, end = date_domain(days)
    x = DateScale(
        start, end, LinearScale(start.toordinal(), end.toordinal(), plot.left, plot.right)
    )
    y = mmse_scale(plot)
    points = tuple(ChartPoint(x(v.day), y(v.mmse), v.day, v.mmse) for v in visits)
    return HistoryChart(
        width=width,
        height=height,
        plot=plot,
        bands=band_rects(plot, y),
        x_ticks=date_ticks(x),
        y_ticks=tuple(Tick(y(v), str(v), minor=v % 10 != 0) for v in Y_TICKS),
        points=points,
        line=" ".join(f"{svg_number(p.x)},{svg_number(p.y)}" for p in points),
        prediction=prediction_shape(prediction, x, y) if prediction else None,
    )


def describe_history(visits: Sequence[Visit]) -> str:
    """The chart in one sentence, for its text alternative:
    "5 visits from March 2022 to May 2026; MMSE from 26 to 19 (mild impairment)"."""
    if not visits:
        return "No visits recorded."
    first, last = visits[0], visits[-1]
    if len(visits) == 1:
        return (
            f"1 visit, in {format_month(first.day)}: MMSE {first.mmse} "
            f"({band_of(first.mmse).words})."
        )
    low = min(v.mmse for v in visits)
    high = max(v.mmse for v in visits)
    return (
        f"{len(visits)} visits from {format_month(first.day)} to {format_month(last.day)}; "
        f"MMSE from {first.mmse} to {last.mmse} ({band_of(last.mmse).words}), "
        f"lowest {low}, highest {high}."
    )
