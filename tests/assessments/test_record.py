"""POST /patients/{name}/assessments: who may record, what is valid, and the rule that
patients.mmse is the latest assessment, kept in the same transaction."""

from __future__ import annotations

import asyncio
import random
from datetime import date, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text

from docmemo.assessments import service
from docmemo.auth.schemas import Identity
from docmemo.db.models import Role, Specialty
from docmemo.errors import Forbidden, InvalidInput, NotFound
from tests.assessments.conftest import stored_scores
from tests.helpers import login, make_user
from tests.stats.test_counters import assert_counters_exact

TODAY = date.today()


def _path(name: str) -> str:
    return f"/patients/{name}/assessments"


def _identity(record) -> Identity:
    return Identity(
        user_id=record.user_id,
        name=record.name,
        status=record.status,
        specialty=record.specialty,
    )


async def test_anonymous_callers_must_log_in_and_nothing_is_written(client, people, sync_engine):
    patient = people["patient"]
    response = await client.post(_path(patient.name), json={"mmse": 10})
    assert response.status_code == 401
    assert response.json() == {"detail": "Not logged in"}
    assert response.headers["www-authenticate"].startswith("Bearer")
    # A bad body does not tell an anonymous caller more than a good one.
    assert (await client.post(_path(patient.name), json={"mmse": 99})).status_code == 401
    assert stored_scores(sync_engine, patient.user_id) == (22, [(TODAY, 22)])


@pytest.mark.parametrize("who", ["patient", "carer", "other_patient"])
async def test_patients_and_caregivers_are_refused_with_403(client, people, sync_engine, who):
    await login(client, people[who].name)
    response = await client.post(_path(people["patient"].name), json={"mmse": 10})
    assert response.status_code == 403
    assert response.json() == {"detail": "Only health professionals may record assessments"}
    assert stored_scores(sync_engine, people["patient"].user_id) == (22, [(TODAY, 22)])


@pytest.mark.parametrize("specialty", list(Specialty))
async def test_every_health_professional_records_in_any_case_of_the_name(
    client, people, sync_engine, specialty
):
    doctor, patient = people[specialty.value], people["patient"]
    await login(client, doctor.name)
    before = datetime.now().astimezone()

    response = await client.post(_path(patient.name.upper()), json={"mmse": 19})

    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "assessment_id": body["assessment_id"],
        "patient": patient.name,
        "mmse": 19,
        "assessed_at": TODAY.isoformat(),
        "recorded_by": {"user_id": doctor.user_id, "name": doctor.name},
        "recorded_at": body["recorded_at"],
    }
    assert isinstance(body["assessment_id"], int)
    assert datetime.fromisoformat(body["recorded_at"]) >= before - timedelta(seconds=1)
    assert stored_scores(sync_engine, patient.user_id) == (19, [(TODAY, 22), (TODAY, 19)])
    with sync_engine.connect() as conn:
        recorded_by = conn.execute(
            text("SELECT recorded_by FROM assessments WHERE assessment_id = :id"),
            {"id": body["assessment_id"]},
        ).scalar_one()
    assert recorded_by == doctor.user_id


async def test_unknown_names_and_non_patients_are_404_alike(client, people):
    await login(client, people["general"].name)
    answers = [
        await client.post(_path(name), json={"mmse": 20})
        for name in ("Nobody Here", people["carer"].name, people["neurologist"].name)
    ]
    assert {answer.status_code for answer in answers} == {404}
    assert {answer.text for answer in answers} == {
        '{"detail":"No such patient, or none you may see"}'
    }


@pytest.mark.parametrize(
    "body",
    [
        {"mmse": 31},
        {"mmse": -1},
        {"mmse": "20"},
        {"mmse": 20.5},
        {"mmse": True},
        {"mmse": None},
        {},
        {"assessed_at": "2024-01-01"},
        {"mmse": 20, "assessed_at": (TODAY + timedelta(days=1)).isoformat()},
        {"mmse": 20, "assessed_at": "2999-01-01"},
        {"mmse": 20, "assessed_at": "1899-12-31"},
        {"mmse": 20, "assessed_at": "2024-02-30"},
        {"mmse": 20, "assessed_at": "yesterday"},
        {"mmse": 20, "assessed_at": 1699920000},
        {"mmse": 20, "assessed_at": "2023-11-14T00:00:00"},
        {"mmse": 20, "assessed_at": "20231114"},
        {"mmse": 20, "assessed_on": "2024-01-01"},
        [20],
        "20",
    ],
)
async def test_bad_bodies_are_422_and_change_nothing(client, people, sync_engine, body):
    await login(client, people["psychologist"].name)
    response = await client.post(_path(people["patient"].name), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert stored_scores(sync_engine, people["patient"].user_id) == (22, [(TODAY, 22)])


async def test_a_body_that_is_not_json_is_422(client, people):
    await login(client, people["psychologist"].name)
    response = await client.post(
        _path(people["patient"].name),
        content=b"mmse=20",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422


async def test_malformed_names_are_422(client, people):
    await login(client, people["general"].name)
    for hostile in ("x" * 5000, "a%00b", "'; DROP TABLE assessments;--"):
        response = await client.post(_path(hostile), json={"mmse": 20})
        assert response.status_code == 422


async def test_a_score_written_as_a_whole_float_is_that_integer(client, people, sync_engine):
    # JSON Schema's "integer" includes 23.0, so a client may send it (the fuzzer does).
    await login(client, people["general"].name)
    response = await client.post(_path(people["patient"].name), json={"mmse": 23.0})
    assert response.status_code == 201, response.text
    assert response.json()["mmse"] == 23
    assert stored_scores(sync_engine, people["patient"].user_id)[0] == 23


async def test_today_and_the_earliest_day_are_accepted(client, people, sync_engine):
    await login(client, people["general"].name)
    for day in (TODAY, date(1900, 1, 1)):
        response = await client.post(
            _path(people["patient"].name), json={"mmse": 15, "assessed_at": day.isoformat()}
        )
        assert response.status_code == 201, response.text
        assert response.json()["assessed_at"] == day.isoformat()
    assert stored_scores(sync_engine, people["patient"].user_id) == (
        15,
        [(date(1900, 1, 1), 15), (TODAY, 22), (TODAY, 15)],
    )


async def test_the_latest_assessment_sets_the_score_and_a_back_dated_one_does_not(
    db, people, sync_engine
):
    doctor, patient = _identity(people["neurologist"]), people["patient"]
    a_year_ago, last_month = TODAY - timedelta(days=365), TODAY - timedelta(days=30)

    # The first assessment (22, at creation) is today's: earlier ones change nothing.
    await service.record_assessment(db, doctor, patient.name, 27, a_year_ago)
    await service.record_assessment(db, doctor, patient.name, 24, last_month)
    assert stored_scores(sync_engine, patient.user_id) == (
        22,
        [(a_year_ago, 27), (last_month, 24), (TODAY, 22)],
    )
    # Two on the same day: the one recorded last is the latest.
    await service.record_assessment(db, doctor, patient.name, 18)
    assert stored_scores(sync_engine, patient.user_id)[0] == 18
    # The same score again changes nothing but the history.
    await service.record_assessment(db, doctor, patient.name, 18)
    current, history = stored_scores(sync_engine, patient.user_id)
    assert current == 18
    assert history[-2:] == [(TODAY, 18), (TODAY, 18)]


async def test_the_service_refuses_what_the_router_refuses(db, people, sync_engine):
    doctor, patient = _identity(people["general"]), people["patient"]
    with pytest.raises(InvalidInput, match="future"):
        await service.record_assessment(db, doctor, patient.name, 20, TODAY + timedelta(days=1))
    with pytest.raises(InvalidInput, match="1900"):
        await service.record_assessment(db, doctor, patient.name, 20, date(1899, 12, 31))
    with pytest.raises(InvalidInput, match="mmse"):
        await service.record_assessment(db, doctor, patient.name, 31)
    with pytest.raises(Forbidden):
        await service.record_assessment(db, _identity(people["carer"]), patient.name, 20)
    with pytest.raises(NotFound):
        await service.record_assessment(db, doctor, people["carer"].name, 20)
    assert stored_scores(sync_engine, patient.user_id) == (22, [(TODAY, 22)])


async def test_counts_stay_exact_as_assessments_change_scores(client, pool, clean_db):
    patient = await make_user(pool, Role.PATIENT, age=101, mmse=22)
    doctor = await make_user(pool, Role.HEALTHPRO)
    await login(client, doctor.name)

    async def counts() -> tuple[int, int]:
        bounds = {"min_age": 101, "max_age": 101}
        over = await client.get("/count_over/20", params=bounds)
        under = await client.get("/count_under/12", params=bounds)
        return over.json()["count"], under.json()["count"]

    assert await counts() == (1, 0)
    await client.post(_path(patient.name), json={"mmse": 11})
    assert await counts() == (0, 1)
    back_dated = {"mmse": 29, "assessed_at": (TODAY - timedelta(days=100)).isoformat()}
    assert (await client.post(_path(patient.name), json=back_dated)).status_code == 201
    assert await counts() == (0, 1)
    await client.post(_path(patient.name), json={"mmse": 25})
    assert await counts() == (1, 0)
    assert_counters_exact(clean_db)


_FAIL_ON_SCORE_CHANGE = """
CREATE FUNCTION test_refuse_score_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER test_refuse_score_change BEFORE UPDATE OF mmse ON patients
FOR EACH ROW WHEN (NEW.user_id = '{patient_id}') EXECUTE FUNCTION test_refuse_score_change();
"""


async def test_a_failure_after_the_insert_leaves_nothing_behind(db, people, sync_engine):
    # The assessment is inserted, then patients.mmse updated: make the update fail
    # (for this patient only) and the insert must be undone with it.
    doctor, patient = _identity(people["general"]), people["patient"]
    with sync_engine.begin() as conn:
        conn.execute(text(_FAIL_ON_SCORE_CHANGE.format(patient_id=patient.user_id)))
    try:
        with pytest.raises(psycopg.errors.CheckViolation):
            await service.record_assessment(db, doctor, patient.name, 9)
        # A back-dated one does not touch patients.mmse, so it goes through.
        await service.record_assessment(db, doctor, patient.name, 9, TODAY - timedelta(days=9))
    finally:
        with sync_engine.begin() as conn:
            conn.execute(text("DROP TRIGGER test_refuse_score_change ON patients"))
            conn.execute(text("DROP FUNCTION test_refuse_score_change()"))
    assert stored_scores(sync_engine, patient.user_id) == (
        22,
        [(TODAY - timedelta(days=9), 9), (TODAY, 22)],
    )
    assert_counters_exact(sync_engine)


async def test_concurrent_recordings_for_one_patient_end_at_the_latest(pool, people, sync_engine):
    doctor, patient = _identity(people["general"]), people["patient"]
    rng = random.Random(6)
    entries = [(rng.randint(0, 30), TODAY - timedelta(days=rng.randint(0, 3))) for _ in range(16)]

    async def record(mmse: int, assessed_at: date) -> None:
        async with pool.connection() as db:
            await service.record_assessment(db, doctor, patient.name, mmse, assessed_at)

    await asyncio.gather(*(record(mmse, day) for mmse, day in entries))

    current, history = stored_scores(sync_engine, patient.user_id)
    assert len(history) == 17
    assert current == history[-1][1]
    assert_counters_exact(sync_engine)
