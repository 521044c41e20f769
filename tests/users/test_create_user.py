"""POST /create_user/{name}: role rules, validation, conflicts, atomicity (SPEC §1, §3)."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import text

from docmemo.auth.passwords import verify_password
from docmemo.db.models import Role, Specialty
from tests.helpers import PASSWORD, login, make_user, unique_name


def _rows(sync_engine, name: str) -> dict[str, int]:
    """How many rows mention this name (any case), table by table."""
    with sync_engine.connect() as conn:
        return {
            table: conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE lower(name) = lower(:n)"), {"n": name}
            ).scalar_one()
            for table in ("users", "patients", "caregivers", "healthpros")
        }


async def test_anyone_may_create_a_patient_with_its_role_row(client, sync_engine):
    name = unique_name("Patient")
    response = await client.post(
        f"/create_user/{name}",
        params={"status": "patient", "password": "Pw-1", "age": 77, "mmse": 21},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "user_id": body["user_id"],
        "name": name,
        "status": "patient",
        "age": 77,
        "mmse": 21,
        "caregiver_id": None,
    }
    assert len(body["user_id"]) == 32 and body["user_id"] == body["user_id"].lower()
    int(body["user_id"], 16)
    with sync_engine.connect() as conn:
        user = conn.execute(
            text(
                "SELECT u.password, p.user_id AS pid, p.age, p.mmse FROM users u "
                "JOIN patients p USING (user_id) WHERE u.user_id = :id"
            ),
            {"id": body["user_id"]},
        ).one()
    assert user.pid == body["user_id"] and (user.age, user.mmse) == (77, 21)
    assert user.password.startswith("$argon2id$")
    assert verify_password(user.password, "Pw-1")
    assert "password" not in response.text.lower()


async def test_anyone_may_create_a_caregiver(client, sync_engine):
    name = unique_name("Carer")
    response = await client.post(
        f"/create_user/{name}", params={"status": "caregiver", "password": "pw"}
    )
    assert response.status_code == 201
    assert response.json()["status"] == "caregiver"
    assert _rows(sync_engine, name) == {"users": 1, "patients": 0, "caregivers": 1, "healthpros": 0}


async def test_a_patient_may_be_given_an_existing_caregiver(pool, client, db):
    carer = await make_user(pool, Role.CAREGIVER)
    for spelling in (carer.user_id, carer.user_id.upper()):
        response = await client.post(
            f"/create_user/{unique_name()}",
            params={
                "status": "patient",
                "password": "pw",
                "age": 80,
                "mmse": 12,
                "caregiver_id": spelling,
            },
        )
        assert response.status_code == 201, response.text
        assert response.json()["caregiver_id"] == carer.user_id


@pytest.mark.parametrize("actor_role", [None, Role.PATIENT, Role.CAREGIVER])
async def test_only_a_healthpro_may_create_a_healthpro(pool, client, db, sync_engine, actor_role):
    if actor_role is not None:
        actor = await make_user(pool, actor_role)
        await login(client, actor.name)
    name = unique_name("Doctor")
    response = await client.post(
        f"/create_user/{name}",
        params={"status": "healthpro", "password": "pw", "specialty": "neurologist"},
    )
    assert response.status_code == 403
    assert "detail" in response.json()
    assert _rows(sync_engine, name)["users"] == 0


async def test_a_healthpro_creates_a_healthpro(pool, client, db):
    actor = await make_user(pool, Role.HEALTHPRO, specialty=Specialty.PSYCHOLOGIST)
    await login(client, actor.name)
    response = await client.post(
        f"/create_user/{unique_name('Doctor')}",
        params={"status": "healthpro", "password": "pw", "specialty": "neurologist"},
    )
    assert response.status_code == 201
    assert response.json()["specialty"] == "neurologist"


async def test_a_name_taken_in_any_case_is_409_and_nothing_is_written(
    pool, client, db, sync_engine
):
    existing = await make_user(pool, Role.CAREGIVER)
    for spelling in (existing.name, existing.name.upper(), existing.name.lower()):
        response = await client.post(
            f"/create_user/{spelling}",
            params={"status": "patient", "password": "pw", "age": 70, "mmse": 20},
        )
        assert response.status_code == 409
        assert "detail" in response.json()
    assert _rows(sync_engine, existing.name) == {
        "users": 1,
        "patients": 0,
        "caregivers": 1,
        "healthpros": 0,
    }


@pytest.mark.parametrize(
    "params",
    [
        {"status": "patient", "password": "pw", "mmse": 20},  # no age
        {"status": "patient", "password": "pw", "age": 70},  # no mmse
        {"status": "patient", "password": "pw", "age": 70, "mmse": 20, "specialty": "general"},
        {"status": "caregiver", "password": "pw", "mmse": 20},
        {"status": "caregiver", "password": "pw", "age": 50},
        {"status": "caregiver", "password": "pw", "specialty": "general"},
        {"status": "caregiver", "password": "pw", "caregiver_id": "0" * 32},
        {"status": "patient", "password": "pw", "age": 70, "mmse": 31},
        {"status": "patient", "password": "pw", "age": 70, "mmse": -1},
        {"status": "patient", "password": "pw", "age": -1, "mmse": 20},
        {"status": "patient", "password": "pw", "age": 1000, "mmse": 20},
        {"status": "patient", "password": "pw", "age": "old", "mmse": 20},
        {"status": "patient", "password": "pw", "age": 70, "mmse": 20.5},
        {"status": "patient", "password": "pw", "age": 70, "mmse": 20, "caregiver_id": "nope"},
        {"status": "patient", "password": "pw", "age": 70, "mmse": 20, "caregiver_id": "f" * 32},
        {"status": "doctor", "password": "pw"},
        {"password": "pw"},
        {"status": "caregiver"},
        {"status": "caregiver", "password": ""},
        {"status": "caregiver", "password": "x" * 1025},
        {"status": "caregiver", "password": "pw", "favourite": "blue"},
    ],
)
async def test_invalid_or_misfitting_parameters_are_422_and_nothing_is_written(
    client, sync_engine, params
):
    name = unique_name("Refused")
    response = await client.post(f"/create_user/{name}", params=params)
    assert response.status_code == 422, response.text
    assert "detail" in response.json()
    assert _rows(sync_engine, name)["users"] == 0


async def test_a_healthpro_needs_a_known_specialty(pool, client, db, sync_engine):
    actor = await make_user(pool, Role.HEALTHPRO)
    await login(client, actor.name)
    for params in (
        {"status": "healthpro", "password": "pw"},
        {"status": "healthpro", "password": "pw", "specialty": "surgeon"},
        {"status": "healthpro", "password": "pw", "specialty": "general", "age": 40},
    ):
        name = unique_name("Doctor")
        response = await client.post(f"/create_user/{name}", params=params)
        assert response.status_code == 422
        assert _rows(sync_engine, name)["users"] == 0


async def test_caregiver_id_of_a_patient_is_refused(pool, client, db):
    patient = await make_user(pool, Role.PATIENT)
    response = await client.post(
        f"/create_user/{unique_name()}",
        params={
            "status": "patient",
            "password": "pw",
            "age": 70,
            "mmse": 20,
            "caregiver_id": patient.user_id,
        },
    )
    assert response.status_code == 422


async def test_concurrent_creates_of_one_name_give_one_201_and_the_rest_409(client, sync_engine):
    name = unique_name("Racer")
    spellings = [name, name.upper(), name.lower(), name.swapcase()] * 3
    responses = await asyncio.gather(
        *(
            client.post(
                f"/create_user/{spelling}", params={"status": "caregiver", "password": "pw"}
            )
            for spelling in spellings
        )
    )
    codes = sorted(response.status_code for response in responses)
    assert codes == [201] + [409] * (len(spellings) - 1)
    assert _rows(sync_engine, name) == {"users": 1, "patients": 0, "caregivers": 1, "healthpros": 0}


@pytest.mark.parametrize(
    "hostile",
    [
        "Robert'); DROP TABLE users;--",
        "' OR 1=1 --",
        "x" * 5000,
        "%20",
        "a%00b",
        "line%0Abreak",
        "esc%1B[0m",
        "..%2F..%2Fetc%2Fpasswd",
    ],
)
async def test_hostile_names_are_refused_with_4xx(client, sync_engine, hostile):
    before = _count_users(sync_engine)
    response = await client.post(
        f"/create_user/{hostile}", params={"status": "caregiver", "password": "pw"}
    )
    assert 400 <= response.status_code < 500
    assert "detail" in response.json()
    assert _count_users(sync_engine) == before


async def test_non_latin_names_are_people_too(client, db):
    name = "Зоя Иванова " + unique_name("").strip()
    response = await client.post(
        f"/create_user/{name}", params={"status": "caregiver", "password": PASSWORD}
    )
    assert response.status_code == 201
    again = await client.post(
        f"/create_user/{name.upper()}", params={"status": "caregiver", "password": "pw"}
    )
    assert again.status_code == 409
    await login(client, name.lower())


def _count_users(sync_engine) -> int:
    with sync_engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM users")).scalar_one()


@pytest.mark.parametrize(
    ("first", "second"),
    [("Strauß", "STRAUSS"), ("Οδυσσέας", "ΟΔΥΣΣΈΑΣ"), ("Zoë Noël", "Zoe\u0308 Noe\u0308l")],
)
async def test_names_equal_by_unicode_case_folding_are_one_person(client, first, second):
    suffix = unique_name("").strip()
    created = await client.post(
        f"/create_user/{first} {suffix}", params={"status": "caregiver", "password": "pw"}
    )
    assert created.status_code == 201
    twin = await client.post(
        f"/create_user/{second} {suffix.upper()}", params={"status": "caregiver", "password": "pw"}
    )
    assert twin.status_code == 409
    await login(client, f"{second} {suffix}", "pw")


def _assessments_of(sync_engine, user_id: str) -> list[tuple]:
    with sync_engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT mmse, assessed_at, recorded_by FROM assessments"
                    " WHERE patient_id = :id ORDER BY assessment_id"
                ),
                {"id": user_id},
            )
        ]


async def test_a_new_patients_score_is_their_first_assessment(client, pool, sync_engine):
    anonymous = await client.post(
        f"/create_user/{unique_name()}",
        params={"status": "patient", "password": "pw", "age": 70, "mmse": 26},
    )
    assert anonymous.status_code == 201
    assert _assessments_of(sync_engine, anonymous.json()["user_id"]) == [(26, date.today(), None)]

    carer = await make_user(pool, Role.CAREGIVER)
    await login(client, carer.name)
    by_carer = await client.post(
        f"/create_user/{unique_name()}",
        params={"status": "patient", "password": "pw", "age": 80, "mmse": 14},
    )
    assert by_carer.status_code == 201
    assert _assessments_of(sync_engine, by_carer.json()["user_id"]) == [
        (14, date.today(), carer.user_id)
    ]


async def test_only_patients_get_an_assessment_and_a_refused_creation_none(
    client, pool, sync_engine
):
    with sync_engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM assessments")).scalar_one()
    taken = await make_user(pool, Role.PATIENT)
    carer = await client.post(
        f"/create_user/{unique_name()}", params={"status": "caregiver", "password": "pw"}
    )
    assert carer.status_code == 201
    twin = await client.post(
        f"/create_user/{taken.name.upper()}",
        params={"status": "patient", "password": "pw", "age": 70, "mmse": 3},
    )
    assert twin.status_code == 409
    with sync_engine.connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM assessments")).scalar_one()
    assert after == before + 1  # the patient made through the service, nothing else
