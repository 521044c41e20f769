"""GET /get_user_by_name/{name}: who may read whose record (SPEC §3)."""

from __future__ import annotations

from tests.helpers import login


async def test_anonymous_callers_must_log_in(client, family):
    response = await client.get(f"/get_user_by_name/{family['patient'].name}")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not logged in"}
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_healthpro_reads_anyone_in_any_case(client, family):
    await login(client, family["doctor"].name)
    patient = family["patient"]
    response = await client.get(f"/get_user_by_name/{patient.name.upper()}")
    assert response.status_code == 200
    assert response.json() == {
        "user_id": patient.user_id,
        "name": patient.name,
        "status": "patient",
        "age": 70,
        "mmse": 17,
        "caregiver_id": family["carer"].user_id,
    }
    for who in ("carer", "other_patient", "doctor"):
        other = await client.get(f"/get_user_by_name/{family[who].name}")
        assert other.status_code == 200
    assert (await client.get(f"/get_user_by_name/{family['doctor'].name}")).json()[
        "specialty"
    ] == "psychologist"


async def test_a_caregiver_reads_themselves_and_their_patients_only(client, family):
    await login(client, family["carer"].name)
    assert (await client.get(f"/get_user_by_name/{family['carer'].name}")).status_code == 200
    assert (await client.get(f"/get_user_by_name/{family['patient'].name}")).status_code == 200
    await _sees_as_missing(client, family["other_patient"].name)
    await _sees_as_missing(client, family["other_carer"].name)
    await _sees_as_missing(client, family["doctor"].name)


async def test_a_patient_reads_only_themselves(client, family):
    await login(client, family["patient"].name)
    response = await client.get(f"/get_user_by_name/{family['patient'].name.lower()}")
    assert response.status_code == 200
    assert response.json()["mmse"] == 17
    await _sees_as_missing(client, family["other_patient"].name)
    await _sees_as_missing(client, family["carer"].name)
    await _sees_as_missing(client, family["doctor"].name)


async def _sees_as_missing(client, name: str) -> None:
    """A forbidden record answers exactly like a name nobody has."""
    forbidden = await client.get(f"/get_user_by_name/{name}")
    missing = await client.get(f"/get_user_by_name/Nobody{name[6:]}")
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json() == missing.json()
    assert forbidden.headers.keys() == missing.headers.keys()


async def test_no_password_hash_is_ever_returned(client, family):
    await login(client, family["doctor"].name)
    for who in family.values():
        response = await client.get(f"/get_user_by_name/{who.name}")
        assert "argon2" not in response.text
        assert "password" not in response.json()


async def test_malformed_names_are_422_not_500(client, family):
    await login(client, family["doctor"].name)
    for hostile in ("x" * 5000, "a%00b", "'; SELECT pg_sleep(10);--"):
        response = await client.get(f"/get_user_by_name/{hostile}")
        assert response.status_code == 422


async def test_unknown_names_in_any_script_are_404(client, family):
    await login(client, family["doctor"].name)
    for name in ("Nadie Existe", "Никто Нет", "无名氏", "لا أحد"):
        response = await client.get(f"/get_user_by_name/{name}")
        assert response.status_code == 404
        assert "detail" in response.json()
