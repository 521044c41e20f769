"""Counting patients; all the SQL of the statistics lives here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from psycopg import AsyncConnection

from docmemo.db.models import MAX_AGE
from docmemo.errors import InvalidInput
from docmemo.prediction.model import Severity, severity_band
from docmemo.stats.schemas import RegistryCounts


class Comparison(StrEnum):
    OVER = "over"
    UNDER = "under"


# Two fixed statements: the comparison is never built from input. They read the
# counters of patients per (mmse, age) that triggers keep exact (migration 0003):
# a few thousand rows at most, whatever the size of the registry.
_COUNT_SQL = {
    Comparison.OVER: """
        SELECT coalesce(sum(patients), 0)::bigint FROM patient_counts
        WHERE mmse > %(mmse)s
          AND age >= coalesce(%(min_age)s::smallint, 0)
          AND age <= coalesce(%(max_age)s::smallint, 32767)
    """,
    Comparison.UNDER: """
        SELECT coalesce(sum(patients), 0)::bigint FROM patient_counts
        WHERE mmse < %(mmse)s
          AND age >= coalesce(%(min_age)s::smallint, 0)
          AND age <= coalesce(%(max_age)s::smallint, 32767)
    """,
}
# Every user has exactly one role row (a constraint trigger sees to it at commit),
# so the users are the sum of the role counters.
REGISTRY_COUNTS_SQL = """
    SELECT coalesce(sum(users), 0)::bigint AS users,
           coalesce(sum(users) FILTER (WHERE status = 'patient'), 0)::bigint AS patients,
           coalesce(sum(users) FILTER (WHERE status = 'caregiver'), 0)::bigint AS caregivers,
           coalesce(sum(users) FILTER (WHERE status = 'healthpro'), 0)::bigint AS healthpros
    FROM role_counts
"""


def check_age_bounds(min_age: int | None, max_age: int | None) -> None:
    if min_age is not None and max_age is not None and min_age > max_age:
        raise InvalidInput("min_age must not be greater than max_age")


async def count_patients(
    db: AsyncConnection,
    comparison: Comparison,
    mmse: int,
    min_age: int | None = None,
    max_age: int | None = None,
) -> int:
    """Patients whose MMSE is strictly over/under ``mmse``, aged within the bounds
    (inclusive; either bound optional)."""
    check_age_bounds(min_age, max_age)
    cursor = await db.execute(
        _COUNT_SQL[comparison], {"mmse": mmse, "min_age": min_age, "max_age": max_age}
    )
    (count,) = await cursor.fetchone()
    return count


async def registry_counts(db: AsyncConnection) -> RegistryCounts:
    row = await (await db.execute(REGISTRY_COUNTS_SQL)).fetchone()
    return RegistryCounts(**row._asdict())


MMSE_SCORES = 31
# Ten-year bands over the generated ages (25..90), and one band on each side for the
# ages a created patient may have (0..130): "under 25" and "85 and over".
AGE_BAND_STARTS: tuple[int, ...] = (0, 25, 35, 45, 55, 65, 75, 85)
SEVERITIES: tuple[Severity, ...] = ("severe", "moderate", "mild", "normal")

# One pass over the counters (31 x 131 rows at any registry size): width_bucket gives
# the 1-based band of each age among the bands' first ages.
DISTRIBUTION_SQL = """
    SELECT width_bucket(age, %(starts)s::smallint[]) AS band, mmse,
           sum(patients)::bigint AS patients
    FROM patient_counts
    WHERE patients <> 0
    GROUP BY band, mmse
"""


@dataclass(frozen=True)
class AgeBand:
    """The patients of one age band, by current MMSE."""

    youngest: int
    oldest: int
    """Inclusive."""
    by_mmse: tuple[int, ...]
    """Patients with each score: ``by_mmse[m]`` have MMSE ``m`` (0..30)."""

    @property
    def label(self) -> str:
        if self.youngest == 0:
            return f"under {self.oldest + 1}"
        if self.oldest == MAX_AGE:
            return f"{self.youngest} and over"
        return f"{self.youngest}–{self.oldest}"

    @property
    def patients(self) -> int:
        return sum(self.by_mmse)

    def by_severity(self) -> dict[Severity, int]:
        """Patients in each SPEC severity band, from severe to normal."""
        counts: dict[Severity, int] = dict.fromkeys(SEVERITIES, 0)
        for score, patients in enumerate(self.by_mmse):
            counts[severity_band(score)] += patients
        return counts


def _check_band_starts(starts: Sequence[int]) -> None:
    if not starts or starts[0] != 0:
        raise ValueError("the first age band must start at 0")
    if any(later <= earlier for earlier, later in pairwise(starts)):
        raise ValueError("age bands must start at increasing ages")
    if starts[-1] > MAX_AGE:
        raise ValueError(f"an age band must start at {MAX_AGE} or below")


async def mmse_by_age_band(
    db: AsyncConnection, band_starts: Sequence[int] = AGE_BAND_STARTS
) -> list[AgeBand]:
    """The distribution of current MMSE in each age band (each band from its start to
    the next band's start, exclusive; the last to MAX_AGE), every band listed even when
    empty. Read from the counters, so it costs the same at any registry size."""
    _check_band_starts(band_starts)
    cursor = await db.execute(DISTRIBUTION_SQL, {"starts": list(band_starts)})
    counts = [[0] * MMSE_SCORES for _ in band_starts]
    for row in await cursor.fetchall():
        counts[row.band - 1][row.mmse] = row.patients
    ends = [start - 1 for start in band_starts[1:]] + [MAX_AGE]
    return [
        AgeBand(youngest=start, oldest=end, by_mmse=tuple(scores))
        for start, end, scores in zip(band_starts, ends, counts, strict=True)
    ]
