"""GET /predict_patient/{name}: neurologists only (SPEC §3), from the patient's own visits."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest
from sqlalchemy import Engine, text

from docmemo.assessments.service import record_assessment, server_today
from docmemo.auth.schemas import Identity
from docmemo.db.models import Role, Specialty
from docmemo.prediction import service
from docmemo.prediction.model import MODEL_VERSION, predict_mmse, severity_band
from docmemo.prediction.progression import LmeModel, Visit, add_months
from docmemo.prediction.schemas import EXAMPLE, PredictionOut
from tests.helpers import login, make_user


def _store(engine: Engine, parameters, version: str, fitted_at: datetime.datetime):
    with engine.begin() as conn:
        return service.store_model(conn, version, fitted_at, parameters, None, 3_000, 14_000)


@pytest.fixture
def stored(sync_engine: Engine, no_model, fitted) -> service.StoredModel:
    """The model fitted on the generated registry (conftest), stored as the served one."""
    fitted_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return _store(sync_engine, fitted.parameters, "lme-2.1-endpoint-test", fitted_at)


@pytest.fixture
async def patient(pool, db):
    return await make_user(pool, Role.PATIENT, age=78, mmse=19)


@pytest.fixture
async def neurologist(pool, client, db):
    user = await make_user(pool, Role.HEALTHPRO, specialty=Specialty.NEUROLOGIST)
    await login(client, user.name)
    return user


async def _patient_with_history(pool, db, recorder, scores: list[int], age: int = 75):
    """A patient whose yearly assessments are ``scores``, the last one today."""
    today = server_today()
    # create_user records the current score as assessed today; earlier ones are dated back.
    user = await make_user(pool, Role.PATIENT, age=age, mmse=scores[-1])
    actor = Identity(
        user_id=recorder.user_id,
        name=recorder.name,
        status=Role.HEALTHPRO,
        specialty=Specialty.NEUROLOGIST,
    )
    n = len(scores)
    for i, score in enumerate(scores[:-1]):
        await record_assessment(db, actor, user.name, score, add_months(today, -12 * (n - 1 - i)))
    return user


# --- who may ask -------------------------------------------------------------------------


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


async def test_unknown_names_and_non_patients_are_404(pool, client, db, neurologist):
    carer = await make_user(pool, Role.CAREGIVER)
    for name in ("Nobody Like This", carer.name, neurologist.name):
        assert (await client.get(f"/predict_patient/{name}")).status_code == 404
    assert (await client.get("/predict_patient/" + "x" * 5000)).status_code == 422


async def test_the_horizon_is_1_to_60_months(client, patient, neurologist, stored):
    near = await client.get(f"/predict_patient/{patient.name}", params={"months": 1})
    far = await client.get(f"/predict_patient/{patient.name}", params={"months": 60})
    assert (near.status_code, far.status_code) == (200, 200)
    assert (near.json()["horizon_months"], far.json()["horizon_months"]) == (1, 60)
    assert far.json()["predicted_mmse"] < near.json()["predicted_mmse"]
    for months in (0, 61, -3, "soon", 12.5):
        response = await client.get(f"/predict_patient/{patient.name}", params={"months": months})
        assert response.status_code == 422
        assert "months" in response.json()["detail"]


# --- what it answers ---------------------------------------------------------------------


async def test_without_a_fitted_model_the_first_version_answers(
    client, patient, neurologist, no_model
):
    response = await client.get(f"/predict_patient/{patient.name.upper()}")
    assert response.status_code == 200
    body = response.json()
    expected = predict_mmse(19, 78, 12)
    assert body["name"] == patient.name
    assert body["current_mmse"] == 19
    assert body["predicted_mmse"] == expected.predicted_mmse
    assert body["interval_80"] == expected.interval_80._asdict()
    assert body["interval_95"] == expected.interval_95._asdict()
    assert body["model_version"] == MODEL_VERSION
    assert body["model_fitted_at"] is None
    assert body["visits_used"] == 1


async def test_the_stored_model_answers_from_the_patient_s_visits(
    pool, db, client, neurologist, stored, fitted
):
    user = await _patient_with_history(pool, db, neurologist, [26, 24, 22, 20])
    response = await client.get(f"/predict_patient/{user.name}", params={"months": 12})
    assert response.status_code == 200
    body = response.json()
    today = server_today()
    visits = [Visit(add_months(today, -12 * k), s) for k, s in [(3, 26), (2, 24), (1, 22)]]
    expected = LmeModel(fitted.parameters, stored.version, stored.fitted_at).forecast(
        [*visits, Visit(today, 20)], 75, today, 12
    )
    assert body["model_version"] == stored.version
    assert datetime.datetime.fromisoformat(body["model_fitted_at"]) == stored.fitted_at
    assert body["current_mmse"] == 20
    assert body["visits_used"] == 4
    assert body["predicted_mmse"] == expected.predicted_mmse < 20
    assert body["interval_80"] == expected.interval_80._asdict()
    assert body["interval_95"] == expected.interval_95._asdict()
    assert body["target_date"] == add_months(today, 12).isoformat()
    assert body["predicted_severity"] == severity_band(body["predicted_mmse"])
    assert body["interval_95"]["low"] <= body["interval_80"]["low"] <= body["predicted_mmse"]
    assert body["predicted_mmse"] <= body["interval_80"]["high"] <= body["interval_95"]["high"]


async def test_a_declining_history_predicts_lower_than_a_stable_one(
    pool, db, client, neurologist, stored
):
    declining = await _patient_with_history(pool, db, neurologist, [26, 24, 22, 20])
    stable = await _patient_with_history(pool, db, neurologist, [20, 20, 20, 20])
    low = (await client.get(f"/predict_patient/{declining.name}")).json()
    high = (await client.get(f"/predict_patient/{stable.name}")).json()
    assert low["current_mmse"] == high["current_mmse"] == 20
    assert low["predicted_mmse"] < high["predicted_mmse"]
    assert abs(high["predicted_mmse"] - 20) <= 2


async def test_a_newly_fitted_model_is_served_from_the_next_request(
    sync_engine, client, patient, neurologist, stored, fitted
):
    first = (await client.get(f"/predict_patient/{patient.name}")).json()
    assert first["model_version"] == stored.version
    newer = _store(
        sync_engine,
        fitted.parameters,
        "lme-2.1-newer",
        stored.fitted_at + datetime.timedelta(hours=1),
    )
    second = (await client.get(f"/predict_patient/{patient.name}")).json()
    assert second["model_version"] == newer.version


async def test_an_unreadable_stored_model_is_not_an_error(
    sync_engine, client, patient, neurologist, no_model
):
    with sync_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO progression_models (version, parameters, n_patients, n_assessments)"
                " VALUES ('lme-9.0-from-the-future', '{\"method\": \"lme-9.0\"}', 1, 1)"
            )
        )
    response = await client.get(f"/predict_patient/{patient.name}")
    assert response.status_code == 200
    assert response.json()["model_version"] == MODEL_VERSION


# --- the contract and the worker's footprint --------------------------------------------


def test_the_schema_example_is_a_valid_answer_and_documents_every_field() -> None:
    schema = PredictionOut.model_json_schema()
    assert set(schema["required"]) == set(PredictionOut.model_fields)
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{name} has no description"
    example = PredictionOut.model_validate(EXAMPLE)
    assert schema["example"] == EXAMPLE
    assert example.predicted_severity == severity_band(example.predicted_mmse)
    assert example.interval_95.low <= example.interval_80.low <= example.predicted_mmse
    assert example.predicted_mmse <= example.interval_80.high <= example.interval_95.high
    decline = (example.current_mmse - example.predicted_mmse) * 12 / example.horizon_months
    assert example.expected_annual_decline == pytest.approx(decline, abs=0.01)


def test_the_api_never_imports_the_fitting_libraries() -> None:
    """Worker memory: numpy, pandas, scipy and statsmodels stay in the command line."""
    code = (
        "import sys\n"
        "from docmemo.config import Settings\n"
        "from docmemo.web.app import create_app\n"
        "import docmemo.prediction.service, docmemo.prediction.router\n"
        "create_app(Settings(_env_file=None, database_url='postgresql://x@127.0.0.1/x'))\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'scipy', 'statsmodels')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
