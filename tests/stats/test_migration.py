"""Migration 0008: the counters per (mmse, age) cell become counters per score,
cumulative over age, exact from the first moment; and the migration can be undone."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, inspect, text

from docmemo.db.models import MAX_AGE
from tests.migrations import database_at, migrate
from tests.stats.test_counters import _insert_patients, _insert_patients_at, assert_counters_exact

# The cell counters of 0003, compared with the patients.
_CELL_COUNTERS_DISAGREE = """
SELECT count(*) FROM (
    SELECT mmse, age, count(*) AS patients FROM patients GROUP BY mmse, age
) AS truth
FULL JOIN patient_counts AS counter USING (mmse, age)
WHERE coalesce(truth.patients, 0) IS DISTINCT FROM counter.patients
"""
_TRIGGER_FUNCTION = "SELECT pg_get_functiondef('count_patient_cells'::regproc)"
EDGES = [(0, 0), (0, MAX_AGE), (30, 0), (30, MAX_AGE), (17, 64), (17, 64)]


@pytest.fixture
def engine_at_0007(database_url: str) -> Iterator[Engine]:
    with database_at(database_url, "docmemo_migration_0008_counters_test", "0007") as engine:
        yield engine


def _write(engine: Engine, seed: int) -> None:
    """Creations, score and age changes and deletions, each in a transaction."""
    rng = random.Random(seed)
    with engine.begin() as conn:
        _insert_patients(conn, 40, rng)
    with engine.begin() as conn:
        conn.execute(text("UPDATE patients SET mmse = 30 - mmse, age = age + 1 WHERE age < 60"))
    with engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM users WHERE user_id IN (SELECT user_id FROM patients "
                "WHERE mmse % 4 = 0)"
            )
        )


def _cell_counters_exact(engine: Engine) -> bool:
    with engine.connect() as conn:
        cells = conn.execute(text("SELECT count(*) FROM patient_counts")).scalar_one()
        disagree = conn.execute(text(_CELL_COUNTERS_DISAGREE)).scalar_one()
    return cells == 31 * (MAX_AGE + 1) and disagree == 0


def test_the_counters_are_filled_from_the_patients(engine_at_0007):
    with engine_at_0007.begin() as conn:
        _insert_patients(conn, 300, random.Random(1))
        _insert_patients_at(conn, EDGES)

    migrate(engine_at_0007, "0008")

    assert_counters_exact(engine_at_0007)
    assert "patient_counts" not in inspect(engine_at_0007).get_table_names()
    _write(engine_at_0007, 2)
    assert_counters_exact(engine_at_0007)


def test_the_migration_is_reversible_and_each_state_keeps_exact(engine_at_0007):
    with engine_at_0007.begin() as conn:
        _insert_patients_at(conn, EDGES)
        function_at_0007 = conn.execute(text(_TRIGGER_FUNCTION)).scalar_one()
    migrate(engine_at_0007, "0008")
    _write(engine_at_0007, 3)

    migrate(engine_at_0007, "0007", downgrade=True)

    tables = set(inspect(engine_at_0007).get_table_names())
    assert "patient_counts" in tables
    assert "patient_counts_by_mmse" not in tables
    with engine_at_0007.connect() as conn:
        assert conn.execute(text(_TRIGGER_FUNCTION)).scalar_one() == function_at_0007
    assert _cell_counters_exact(engine_at_0007)
    _write(engine_at_0007, 4)
    assert _cell_counters_exact(engine_at_0007)

    migrate(engine_at_0007, "0008")

    assert_counters_exact(engine_at_0007)
    _write(engine_at_0007, 5)
    assert_counters_exact(engine_at_0007)
