"""What the web app's patient page asks of this service beyond the API: the field a
refusal is about, and the patient's caregiver."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from docmemo.assessments import service
from docmemo.auth.schemas import Identity
from docmemo.db.models import Role
from docmemo.errors import InvalidInput
from tests.assessments.conftest import stored_scores
from tests.helpers import make_user


def _identity(record) -> Identity:
    return Identity(
        user_id=record.user_id, name=record.name, status=record.status, specialty=record.specialty
    )


async def test_refusals_name_the_field_they_are_about(db, people, sync_engine) -> None:
    doctor, patient = _identity(people["general"]), people["patient"]
    today = service.server_today()
    cases = [
        (31, today, "mmse"),
        (-1, today, "mmse"),
        (20, today + timedelta(days=1), "assessed_at"),
        (20, date(1899, 12, 31), "assessed_at"),
    ]
    for mmse, day, field in cases:
        with pytest.raises(InvalidInput) as refused:
            await service.record_assessment(db, doctor, patient.name, mmse, day)
        assert refused.value.field == field
    # A malformed name is no field of the form: the page reports it on its own.
    with pytest.raises(InvalidInput) as refused:
        await service.record_assessment(db, doctor, "<script>", 20)
    assert refused.value.field is None
    assert stored_scores(sync_engine, patient.user_id)[0] == 22


async def test_the_caregiver_is_named_and_readable_by_whom_the_rules_say(db, people, pool) -> None:
    patient, carer = people["patient"], people["carer"]
    readers = {
        "general": True,  # health professionals read anyone
        "neurologist": True,
        "carer": True,  # themselves
        "patient": False,  # a patient reads only their own record
        "other_carer": False,
    }
    for who, may_read in readers.items():
        caregiver = await service.caregiver_of(db, _identity(people[who]), patient)
        assert caregiver == service.CaregiverRef(carer.user_id, carer.name, may_read)
    lonely = await make_user(pool, Role.PATIENT)
    assert await service.caregiver_of(db, _identity(people["general"]), lonely) is None
