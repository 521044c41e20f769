"""Counting patients; all the SQL of the statistics lives here."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from docmemo.errors import InvalidInput
from docmemo.stats.schemas import RegistryCounts


class Comparison(StrEnum):
    OVER = "over"
    UNDER = "under"


# Two fixed statements: the comparison is never built from input.
_COUNT_SQL = {
    Comparison.OVER: text("""
        SELECT count(*) FROM patients
        WHERE mmse > :mmse AND age >= coalesce(:min_age, 0) AND age <= coalesce(:max_age, 32767)
    """),
    Comparison.UNDER: text("""
        SELECT count(*) FROM patients
        WHERE mmse < :mmse AND age >= coalesce(:min_age, 0) AND age <= coalesce(:max_age, 32767)
    """),
}


def check_age_bounds(min_age: int | None, max_age: int | None) -> None:
    if min_age is not None and max_age is not None and min_age > max_age:
        raise InvalidInput("min_age must not be greater than max_age")


async def count_patients(
    db: AsyncSession,
    comparison: Comparison,
    mmse: int,
    min_age: int | None = None,
    max_age: int | None = None,
) -> int:
    """Patients whose MMSE is strictly over/under ``mmse``, aged within the bounds
    (inclusive; either bound optional)."""
    check_age_bounds(min_age, max_age)
    result = await db.execute(
        _COUNT_SQL[comparison], {"mmse": mmse, "min_age": min_age, "max_age": max_age}
    )
    count = result.scalar_one()
    await db.commit()
    return count


async def registry_counts(db: AsyncSession) -> RegistryCounts:
    row = (
        await db.execute(
            text("""
                SELECT (SELECT count(*) FROM users) AS users,
                       (SELECT count(*) FROM patients) AS patients,
                       (SELECT count(*) FROM caregivers) AS caregivers,
                       (SELECT count(*) FROM healthpros) AS healthpros
            """)
        )
    ).one()
    await db.commit()
    return RegistryCounts(**row._mapping)
