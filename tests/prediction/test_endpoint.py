"""GET /predict_patient/{name}: neurologists only (SPEC §3)."""

from __future__ import annotations

import pytest

from docmemo.db.models import Role, Specialty
from docmemo.prediction.model import MODEL_VERSION, predict_mmse
from tests.helpers import login, make_user


@pytest.fixture
async def patient(pool, db):
    return await make_user(pool, Role.PATIENT, age=78, mmse=19)


async def test_anonymous_callers_get_401(client, patient):
    assert (await client.get(f"/predict_patient/{patient.name}")).status_code == 401


@pytest.mark.parametrize(
    ("role", "specialty"),
    [
        (Role.PATIENT, None),
        (Role.CAREGIVER, None),
        (Role.HEALTHPRO, Specialty.GENERAL),
        (Role.HEALTHPRO, Specialty.PSYCHOLOGIST),
    ],
)
async def test_logged_in_non_neurologists_get_403(pool, client, db, patient, role, specialty):
    fields = {"specialty": specialty} if specialty else {}
    caller = await make_user(pool, role, **fields)
    await login(client, caller.name)
    response = await client.get(f"/predict_patient/{patient.name}")
    assert response.status_code == 403
    assert "detail" in response.json()


@pytest.fixture
async def neurologist(pool, client, db):
    user = await make_user(pool, Role.HEALTHPRO, specialty=Specialty.NEUROLOGIST)
    await login(client, user.name)
    return user


async def test_a_neurologist_gets_the_prediction(client, patient, neurologist):
    response = await client.get(f"/predict_patient/{patient.name.upper()}")
    assert response.status_code == 200
    body = response.json()
    expected = predict_mmse(19, 78, 12)
    assert body["name"] == patient.name
    assert body["current_mmse"] == 19
    assert body["horizon_months"] == 12
    assert body["predicted_mmse"] == pytest.approx(expected.predicted_mmse)
    assert body["predicted_mmse"] < 19
    assert body["interval_95"]["low"] <= body["interval_80"]["low"] <= body["predicted_mmse"]
    assert body["predicted_mmse"] <= body["interval_80"]["high"] <= body["interval_95"]["high"]
    assert body["uncertainty_sd"] > 0
    assert body["model_version"] == MODEL_VERSION


async def test_the_horizon_can_be_chosen_within_1_to_60_months(client, patient, neurologist):
    near = (await client.get(f"/predict_patient/{patient.name}", params={"months": 3})).json()
    far = (await client.get(f"/predict_patient/{patient.name}", params={"months": 60})).json()
    assert (near["horizon_months"], far["horizon_months"]) == (3, 60)
    assert far["predicted_mmse"] < near["predicted_mmse"]
    for months in (0, 61, "soon"):
        response = await client.get(f"/predict_patient/{patient.name}", params={"months": months})
        assert response.status_code == 422


async def test_unknown_names_and_non_patients_are_404(pool, client, db, neurologist):
    carer = await make_user(pool, Role.CAREGIVER)
    for name in ("Nobody Like This", carer.name, neurologist.name):
        assert (await client.get(f"/predict_patient/{name}")).status_code == 404
    assert (await client.get("/predict_patient/" + "x" * 5000)).status_code == 422
