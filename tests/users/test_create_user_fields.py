"""users.service.create_user as the web app's form calls it: each refusal names the
parameter at fault (InvalidInput.field), and a patient's caregiver may be given by
name (any case) instead of by id."""

from __future__ import annotations

import pytest

from docmemo.db.models import Role, Specialty
from docmemo.errors import Forbidden, InvalidInput, NameTaken
from docmemo.users import service
from docmemo.users.schemas import NewUser
from tests.helpers import FOUNDING_HEALTHPRO, make_user, unique_name


async def _users_named(db, name: str) -> int:
    cursor = await db.execute(
        "SELECT count(*) FROM users WHERE name_key(name) = name_key(%(name)s)", {"name": name}
    )
    return (await cursor.fetchone())[0]


def _patient(**fields: object) -> NewUser:
    return NewUser(status=Role.PATIENT, password="pw", **{"age": 70, "mmse": 20, **fields})


@pytest.mark.parametrize(
    ("new_user", "field"),
    [
        (_patient(mmse=31), "mmse"),
        (_patient(age=-1), "age"),
        (NewUser(status=Role.PATIENT, password="pw", mmse=20), "age"),
        (NewUser(status=Role.HEALTHPRO, password="pw"), "specialty"),
        (NewUser(status=Role.CAREGIVER, password="pw", caregiver_id="0" * 32), "caregiver_id"),
        (_patient(caregiver_id="nope"), "caregiver_id"),
        (_patient(caregiver_id="f" * 32), "caregiver_id"),
    ],
)
async def test_each_refusal_names_its_field_and_nothing_is_written(pool, db, new_user, field):
    name = unique_name("Refused")
    with pytest.raises(InvalidInput) as refused:
        await service.create_user(pool, FOUNDING_HEALTHPRO, name, new_user)
    assert refused.value.field == field
    assert await _users_named(db, name) == 0


@pytest.mark.parametrize("name", ["", "   ", "Bobby <Tables>", "x" * 101, "-Dash"])
async def test_a_refused_name_is_the_names_fault(pool, name):
    with pytest.raises(InvalidInput) as refused:
        await service.create_user(pool, None, name, _patient())
    assert refused.value.field == "name"


async def test_a_caregiver_is_found_by_name_in_any_case(pool, db):
    carer = await make_user(pool, Role.CAREGIVER)
    for spelling in (carer.name, carer.name.upper(), f"  {carer.name.swapcase()} "):
        record = await service.create_user(
            pool, None, unique_name("Patient"), _patient(), caregiver_name=spelling
        )
        assert record.caregiver_id == carer.user_id
        cursor = await db.execute(
            "SELECT caregiver_id FROM patients WHERE user_id = %(id)s", {"id": record.user_id}
        )
        assert (await cursor.fetchone())[0] == carer.user_id


async def test_no_caregiver_by_that_name_is_one_message_whoever_has_the_name(pool, db):
    patient = await make_user(pool, Role.PATIENT)
    healthpro = await make_user(pool, Role.HEALTHPRO, specialty=Specialty.NEUROLOGIST)
    for caregiver_name in (unique_name("Nobody"), patient.name, healthpro.name, "Bobby <Tables>"):
        name = unique_name("Patient")
        with pytest.raises(InvalidInput) as refused:
            await service.create_user(pool, None, name, _patient(), caregiver_name=caregiver_name)
        assert (refused.value.field, refused.value.detail) == (
            "caregiver_name",
            "No caregiver by that name",
        )
        assert await _users_named(db, name) == 0


@pytest.mark.parametrize(
    "new_user",
    [
        NewUser(status=Role.CAREGIVER, password="pw"),
        NewUser(status=Role.HEALTHPRO, password="pw", specialty=Specialty.GENERAL),
        _patient(caregiver_id="0" * 32),
    ],
)
async def test_a_caregiver_name_only_fits_a_patient_without_a_caregiver_id(pool, db, new_user):
    carer = await make_user(pool, Role.CAREGIVER)
    name = unique_name("Refused")
    with pytest.raises(InvalidInput) as refused:
        await service.create_user(
            pool, FOUNDING_HEALTHPRO, name, new_user, caregiver_name=carer.name
        )
    assert refused.value.field == "caregiver_name"
    assert await _users_named(db, name) == 0


async def test_a_taken_name_and_a_forbidden_role_are_refused_before_the_caregiver(pool, db):
    taken = await make_user(pool, Role.CAREGIVER)
    with pytest.raises(NameTaken):
        await service.create_user(
            pool, None, taken.name.upper(), _patient(), caregiver_name=unique_name("Nobody")
        )
    name = unique_name("Doctor")
    with pytest.raises(Forbidden):
        await service.create_user(
            pool, None, name, NewUser(status=Role.HEALTHPRO, password="pw", specialty="general")
        )
    assert await _users_named(db, name) == 0
