"""Counting patients; all the SQL of the statistics lives here."""

from __future__ import annotations

from enum import StrEnum

from psycopg import AsyncConnection

from docmemo.errors import InvalidInput
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
