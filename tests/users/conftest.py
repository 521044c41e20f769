"""Fixtures shared by the tests of users: a family of every role."""

from __future__ import annotations

import pytest

from docmemo.db.models import Role, Specialty
from tests.helpers import make_user


@pytest.fixture
async def family(pool):
    """Two caregivers with a patient each, and a health professional."""
    carer = await make_user(pool, Role.CAREGIVER)
    other_carer = await make_user(pool, Role.CAREGIVER)
    return {
        "carer": carer,
        "other_carer": other_carer,
        "patient": await make_user(pool, Role.PATIENT, caregiver_id=carer.user_id, mmse=17),
        "other_patient": await make_user(pool, Role.PATIENT, caregiver_id=other_carer.user_id),
        "doctor": await make_user(pool, Role.HEALTHPRO, specialty=Specialty.PSYCHOLOGIST),
    }
