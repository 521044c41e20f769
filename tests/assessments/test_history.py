"""GET /patients/{name}/assessments: the history oldest first, seen by whoever may see
the patient's record, and by nobody else (who gets the answer for a missing name)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from docmemo.assessments import service
from docmemo.auth.schemas import Identity
from tests.helpers import login

TODAY = date.today()


def _path(name: str) -> str:
    return f"/patients/{name}/assessments"


async def _sees_as_missing(client, name: str) -> None:
    """Refused exactly as a name nobody has: status, body and headers."""
    refused = await client.get(_path(name))
    missing = await client.get(_path(f"Nobody {name}"))
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == missing.json() == {"detail": "No such patient, or none you may see"}
    assert refused.headers.keys() == missing.headers.keys()


@pytest.fixture
async def history(db, people) -> list[tuple[date, int]]:
    """Two more assessments of the patient, recorded out of order."""
    doctor = people["neurologist"]
    identity = Identity(
        user_id=doctor.user_id, name=doctor.name, status=doctor.status, specialty=doctor.specialty
    )
    patient = people["patient"].name
    await service.record_assessment(db, identity, patient, 25, TODAY - timedelta(days=200))
    await service.record_assessment(db, identity, patient, 27, TODAY - timedelta(days=600))
    return [(TODAY - timedelta(days=600), 27), (TODAY - timedelta(days=200), 25), (TODAY, 22)]


async def test_anonymous_callers_must_log_in(client, people):
    response = await client.get(_path(people["patient"].name))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("who", ["general", "psychologist", "neurologist", "carer", "patient"])
async def test_who_may_see_the_record_sees_the_history_oldest_first(client, people, history, who):
    await login(client, people[who].name)
    response = await client.get(_path(people["patient"].name.lower()))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["patient"] == people["patient"].name
    assert [(date.fromisoformat(a["assessed_at"]), a["mmse"]) for a in body["assessments"]] == (
        history
    )
    doctor = people["neurologist"]
    assert [a["recorded_by"] for a in body["assessments"]] == [
        {"user_id": doctor.user_id, "name": doctor.name},
        {"user_id": doctor.user_id, "name": doctor.name},
        None,  # made by the tests' helper, which vouches without an account
    ]
    record = await client.get(f"/get_user_by_name/{people['patient'].name}")
    assert record.json()["mmse"] == body["assessments"][-1]["mmse"]


@pytest.mark.parametrize("who", ["other_carer", "other_patient"])
async def test_who_may_not_see_the_record_gets_the_answer_for_a_missing_name(client, people, who):
    await login(client, people[who].name)
    await _sees_as_missing(client, people["patient"].name)


async def test_non_patients_have_no_history_even_for_a_healthpro(client, people):
    await login(client, people["general"].name)
    for who in ("carer", "neurologist", "general"):
        await _sees_as_missing(client, people[who].name)


async def test_a_caregiver_sees_only_their_own_patients(client, people):
    await login(client, people["carer"].name)
    assert (await client.get(_path(people["patient"].name))).status_code == 200
    await _sees_as_missing(client, people["other_patient"].name)
    await _sees_as_missing(client, people["carer"].name)


async def test_malformed_names_are_422(client, people):
    await login(client, people["general"].name)
    for hostile in ("x" * 5000, "a%00b", "'; SELECT pg_sleep(10);--"):
        assert (await client.get(_path(hostile))).status_code == 422


async def test_histories_and_recordings_are_not_cached(client, people):
    # Health data: set for every answer by docmemo.web.headers.
    await login(client, people["general"].name)
    read = await client.get(_path(people["patient"].name))
    written = await client.post(_path(people["patient"].name), json={"mmse": 20})
    assert read.headers["cache-control"] == written.headers["cache-control"] == "no-store"
