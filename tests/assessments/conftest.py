"""People to record and read assessments with, and what the database holds about them."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, text

from docmemo.db.models import Role, Specialty
from tests.helpers import make_user


@pytest.fixture
async def people(pool) -> dict:
    """A patient with a caregiver, another patient with another caregiver, and a health
    professional of each specialty."""
    carer = await make_user(pool, Role.CAREGIVER)
    other_carer = await make_user(pool, Role.CAREGIVER)
    return {
        "carer": carer,
        "other_carer": other_carer,
        "patient": await make_user(pool, Role.PATIENT, caregiver_id=carer.user_id, mmse=22),
        "other_patient": await make_user(pool, Role.PATIENT, caregiver_id=other_carer.user_id),
        **{
            specialty.value: await make_user(pool, Role.HEALTHPRO, specialty=specialty)
            for specialty in Specialty
        },
    }


def stored_scores(engine: Engine, patient_id: str) -> tuple[int, list[tuple[date, int]]]:
    """``patients.mmse`` and the patient's assessments ``(assessed_at, mmse)``, oldest first."""
    with engine.connect() as conn:
        current = conn.execute(
            text("SELECT mmse FROM patients WHERE user_id = :id"), {"id": patient_id}
        ).scalar_one()
        history = conn.execute(
            text(
                "SELECT assessed_at, mmse FROM assessments WHERE patient_id = :id"
                " ORDER BY assessed_at, assessment_id"
            ),
            {"id": patient_id},
        ).all()
    return current, [tuple(row) for row in history]
