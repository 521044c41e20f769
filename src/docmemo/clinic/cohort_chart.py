"""Geometry of the cohort chart: the current MMSE of each age band, drawn as inline SVG.

One column per age band, MMSE 0..30 upwards, the SPEC severity bands shaded behind.
In each column a bar per score, centred, as wide as the number of patients with that
score (one scale for the whole chart, so columns compare in numbers, not shares): the
outline of each column is the band's distribution. A line marks the threshold of the
counts; bars over it, at it and under it are told apart by class, and columns wholly
outside the chosen age range are faded. cohort.js moves the line and the classes as
the controls move, from the ``data-*`` attributes these figures give the SVG.

The viewBox is 360 units wide: at a 360 px screen one unit is one pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from docmemo.clinic.charts import LinearScale
from docmemo.db.models import MAX_AGE
from docmemo.prediction.model import Severity, severity_band
from docmemo.stats.service import MMSE_SCORES, SEVERITIES, AgeBand

WIDTH = 360
LEFT = 32  # room for the axis title and the score ticks
RIGHT = 4
TOP = 8
ROW = 8  # one MMSE point
BAR_GAP = 1  # between the bars of two scores
COLUMN_GAP = 6
PLOT_HEIGHT = ROW * MMSE_SCORES
LABELS_HEIGHT = 34  # two lines under the plot: the band, its patients
HEIGHT = TOP + PLOT_HEIGHT + LABELS_HEIGHT
MIN_BAR_WIDTH = 1.5  # a single patient stays visible next to thousands
TICKS = (0, 10, 18, 24, 30)  # where the severity bands start, and the top


def number(value: float) -> float | int:
    """A coordinate as the SVG is given it: whole when it is (92, not 92.0, the way
    cohort.js writes it), else two decimals."""
    rounded = round(value, 2)
    return int(rounded) if rounded == int(rounded) else rounded


def row_top(mmse: int) -> float:
    """The top of the row of a score: 30 at the top of the plot, 0 at the bottom."""
    return TOP + (MMSE_SCORES - 1 - mmse) * ROW


def row_centre(mmse: int) -> float:
    return number(row_top(mmse) + ROW / 2)


def threshold_class(mmse: int, threshold: int) -> str:
    """How a score stands to the threshold, as the counts see it (strictly over/under)."""
    if mmse > threshold:
        return "is-over"
    if mmse < threshold:
        return "is-under"
    return "is-at"


def outside_age_range(band: AgeBand, min_age: int | None, max_age: int | None) -> bool:
    """True when no age of the band is within the bounds (either bound optional)."""
    return (min_age is not None and band.oldest < min_age) or (
        max_age is not None and band.youngest > max_age
    )


def short_label(band: AgeBand) -> str:
    """The band under its column, where a 360 px screen gives it about 40 px."""
    if band.youngest == 0:
        return f"<{band.oldest + 1}"
    if band.oldest == MAX_AGE:
        return f"{band.youngest}+"
    return f"{band.youngest}–{band.oldest}"


@dataclass(frozen=True)
class Bar:
    mmse: int
    patients: int
    x: float
    y: float
    width: float
    height: float
    css_class: str


@dataclass(frozen=True)
class Column:
    band: AgeBand
    label: str
    x: float
    width: float
    centre: float
    bars: list[Bar]
    outside: bool


@dataclass(frozen=True)
class Stripe:
    """A severity band shaded across the plot."""

    severity: Severity
    lowest: int
    highest: int
    y: float
    height: float


@dataclass(frozen=True)
class Tick:
    mmse: int
    y: float


@dataclass(frozen=True)
class CohortChart:
    columns: list[Column]
    stripes: list[Stripe]
    ticks: list[Tick]
    threshold: int
    threshold_y: float
    widest: int
    """The most patients any one bar holds: the full width of a column."""
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = TOP + PLOT_HEIGHT
    row: int = ROW


def severity_stripes() -> list[Stripe]:
    """The SPEC bands, from the scores themselves (severity_band), highest first."""
    stripes = []
    scores = range(MMSE_SCORES - 1, -1, -1)
    for severity, group in groupby(scores, key=severity_band):
        members = list(group)
        highest, lowest = members[0], members[-1]
        top = row_top(highest)
        stripes.append(Stripe(severity, lowest, highest, top, row_top(lowest) + ROW - top))
    return stripes


def severity_totals(bands: list[AgeBand]) -> dict[Severity, int]:
    """Patients of every age in each severity band (the table's last row)."""
    totals: dict[Severity, int] = dict.fromkeys(SEVERITIES, 0)
    for band in bands:
        for severity, patients in band.by_severity().items():
            totals[severity] += patients
    return totals


def build_chart(
    bands: list[AgeBand], threshold: int, min_age: int | None, max_age: int | None
) -> CohortChart:
    """Every shape of the chart for ``bands`` (stats.service.mmse_by_age_band)."""
    pitch = (WIDTH - LEFT - RIGHT) / max(len(bands), 1)
    widest = max((count for band in bands for count in band.by_mmse), default=0)
    # Bars exist only for scores some patients have, so widest > 0 wherever it is used.
    bar_width = LinearScale(0, max(widest, 1), 0, pitch - COLUMN_GAP)
    columns = []
    for index, band in enumerate(bands):
        x = LEFT + index * pitch
        centre = x + pitch / 2
        bars = []
        for mmse, patients in enumerate(band.by_mmse):
            if not patients:
                continue
            width = max(MIN_BAR_WIDTH, bar_width(patients))
            bars.append(
                Bar(
                    mmse=mmse,
                    patients=patients,
                    x=number(centre - width / 2),
                    y=number(row_top(mmse) + BAR_GAP / 2),
                    width=number(width),
                    height=ROW - BAR_GAP,
                    css_class=threshold_class(mmse, threshold),
                )
            )
        columns.append(
            Column(
                band=band,
                label=short_label(band),
                x=number(x),
                width=number(pitch),
                centre=number(centre),
                bars=bars,
                outside=outside_age_range(band, min_age, max_age),
            )
        )
    return CohortChart(
        columns=columns,
        stripes=severity_stripes(),
        ticks=[Tick(mmse, row_centre(mmse)) for mmse in TICKS],
        threshold=threshold,
        threshold_y=row_centre(threshold),
        widest=widest,
    )
