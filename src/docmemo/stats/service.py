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

MMSE_SCORES = 31


class Comparison(StrEnum):
    OVER = "over"
    UNDER = "under"


# One statement for a whole batch of counts: one row of parameters per count, in the
# batch's order. Each count reads the counters of patients per score, cumulative over
# age, that triggers keep exact (migration 0008): two subscripts of each of at most 31
# rows, whatever the size of the registry. The comparison and the age bounds arrive
# as ranges of scores and of array entries (mmse_range, age_entries), never as SQL.
COUNT_MANY_SQL = """
    SELECT (
        SELECT coalesce(sum(c.up_to_age[q.upper_entry] - c.up_to_age[q.lower_entry]), 0)::bigint
        FROM patient_counts_by_mmse AS c
        WHERE c.mmse BETWEEN q.lowest_mmse AND q.highest_mmse
    ) AS patients
    FROM unnest(
        %(lowest_mmse)s::smallint[], %(highest_mmse)s::smallint[],
        %(lower_entry)s::smallint[], %(upper_entry)s::smallint[]
    ) WITH ORDINALITY AS q(lowest_mmse, highest_mmse, lower_entry, upper_entry, position)
    ORDER BY q.position
"""
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


@dataclass(frozen=True, slots=True)
class CountQuery:
    """One count: patients whose MMSE is strictly over/under ``mmse``, aged within the
    bounds (inclusive; either optional). Hashable, so equal counts share one answer."""

    comparison: Comparison
    mmse: int
    min_age: int | None = None
    max_age: int | None = None

    def mmse_range(self) -> tuple[int, int]:
        """``(lowest, highest)``: the scores counted, inclusive (none when lowest >
        highest), clamped near 0..30 so that any threshold fits a smallint."""
        if self.comparison == Comparison.OVER:
            return min(max(self.mmse + 1, 0), MMSE_SCORES), MMSE_SCORES - 1
        return 0, max(min(self.mmse - 1, MMSE_SCORES - 1), -1)


def age_entries(min_age: int | None, max_age: int | None) -> tuple[int, int]:
    """``(lower, upper)``: the patients of a score aged within the bounds (inclusive,
    either optional) are ``up_to_age[upper] - up_to_age[lower]`` (1-based entries,
    ``up_to_age[a + 2]`` counting ages up to ``a``). Ages outside 0..MAX_AGE hold no
    patient: clamped, never a subscript out of the array."""
    youngest = 0 if min_age is None else min(max(min_age, 0), MAX_AGE + 1)
    oldest = MAX_AGE if max_age is None else max(min(max_age, MAX_AGE), -1)
    return youngest + 1, oldest + 2


def count_query(
    comparison: Comparison, mmse: int, min_age: int | None = None, max_age: int | None = None
) -> CountQuery:
    """The count asked for, once its bounds are checked (``InvalidInput`` otherwise):
    for the caller to do before the query joins a batch that others share."""
    check_age_bounds(min_age, max_age)
    return CountQuery(comparison, mmse, min_age, max_age)


async def count_many(db: AsyncConnection, queries: Sequence[CountQuery]) -> list[int]:
    """The answer to each query, in order, from ONE statement for the whole batch.

    The queries must have passed ``check_age_bounds`` (``count_query`` does): a query
    whose minimum age is over its maximum gets no error here.
    """
    if not queries:
        return []
    cursor = await db.execute(COUNT_MANY_SQL, count_many_parameters(queries))
    return [count for (count,) in await cursor.fetchall()]


def count_many_parameters(queries: Sequence[CountQuery]) -> dict[str, list[int]]:
    """COUNT_MANY_SQL's parameters: one array per column, one entry per query."""
    mmse_ranges = [query.mmse_range() for query in queries]
    entries = [age_entries(query.min_age, query.max_age) for query in queries]
    return {
        "lowest_mmse": [lowest for lowest, _ in mmse_ranges],
        "highest_mmse": [highest for _, highest in mmse_ranges],
        "lower_entry": [lower for lower, _ in entries],
        "upper_entry": [upper for _, upper in entries],
    }


async def count_patients(
    db: AsyncConnection,
    comparison: Comparison,
    mmse: int,
    min_age: int | None = None,
    max_age: int | None = None,
) -> int:
    """Patients whose MMSE is strictly over/under ``mmse``, aged within the bounds
    (inclusive; either bound optional)."""
    [count] = await count_many(db, [count_query(comparison, mmse, min_age, max_age)])
    return count


async def registry_counts(db: AsyncConnection) -> RegistryCounts:
    row = await (await db.execute(REGISTRY_COUNTS_SQL)).fetchone()
    return RegistryCounts(**row._asdict())


# Ten-year bands over the generated ages (25..90), and one band on each side for the
# ages a created patient may have (0..130): "under 25" and "85 and over".
AGE_BAND_STARTS: tuple[int, ...] = (0, 25, 35, 45, 55, 65, 75, 85)
SEVERITIES: tuple[Severity, ...] = ("severe", "moderate", "mild", "normal")

# One pass over the counters (31 rows at any registry size): for each score and each
# band, the difference of two entries of the cumulative array (age_entries).
DISTRIBUTION_SQL = """
    SELECT band.number AS band, c.mmse,
           c.up_to_age[band.upper_entry] - c.up_to_age[band.lower_entry] AS patients
    FROM patient_counts_by_mmse AS c
    CROSS JOIN unnest(%(lower_entry)s::smallint[], %(upper_entry)s::smallint[])
         WITH ORDINALITY AS band(lower_entry, upper_entry, number)
    WHERE c.up_to_age[band.upper_entry] <> c.up_to_age[band.lower_entry]
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
    cursor = await db.execute(DISTRIBUTION_SQL, distribution_parameters(band_starts))
    counts = [[0] * MMSE_SCORES for _ in band_starts]
    for row in await cursor.fetchall():
        counts[row.band - 1][row.mmse] = row.patients
    return [
        AgeBand(youngest=start, oldest=end, by_mmse=tuple(scores))
        for start, end, scores in zip(band_starts, _band_ends(band_starts), counts, strict=True)
    ]


def _band_ends(band_starts: Sequence[int]) -> list[int]:
    return [start - 1 for start in band_starts[1:]] + [MAX_AGE]


def distribution_parameters(band_starts: Sequence[int]) -> dict[str, list[int]]:
    """DISTRIBUTION_SQL's parameters: the entries of each band's first and last ages."""
    entries = [
        age_entries(start, end)
        for start, end in zip(band_starts, _band_ends(band_starts), strict=True)
    ]
    return {
        "lower_entry": [lower for lower, _ in entries],
        "upper_entry": [upper for _, upper in entries],
    }
