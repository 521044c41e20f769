"""Migration 0004: every existing patient's score becomes their first assessment, and
the migration can be undone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, inspect, text

from tests.db.test_schema import insert_caregiver, insert_patient
from tests.migrations import database_at, migrate


@pytest.fixture
def engine_at_0003(database_url: str) -> Iterator[Engine]:
    with database_at(database_url, "docmemo_migration_0004_test", "0003") as engine:
        yield engine


def test_existing_patients_get_their_score_as_an_assessment_of_today(engine_at_0003):
    with engine_at_0003.begin() as conn:
        carer = insert_caregiver(conn)
        patients = {insert_patient(conn, mmse=mmse, caregiver_id=carer): mmse for mmse in (3, 17)}

    migrate(engine_at_0003, "0004")

    with engine_at_0003.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT patient_id, mmse, assessed_at = CURRENT_DATE, recorded_by FROM assessments"
            )
        ).all()
    assert sorted(tuple(row) for row in rows) == sorted(
        (patient_id, mmse, True, None) for patient_id, mmse in patients.items()
    )


def test_the_migration_is_reversible(engine_at_0003):
    migrate(engine_at_0003, "0004")
    assert {"assessments", "progression_models"} <= set(inspect(engine_at_0003).get_table_names())
    migrate(engine_at_0003, "0003", downgrade=True)
    assert not {"assessments", "progression_models"} & set(
        inspect(engine_at_0003).get_table_names()
    )
    migrate(engine_at_0003, "0004")
