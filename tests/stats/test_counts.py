"""GET /count_over/{mmse} and /count_under/{mmse}: exact counts, checked against the rows."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text

from docmemo.db.models import MAX_AGE, Role
from docmemo.web.app import create_app
from tests.helpers import make_user

# Ages over the whole allowed range (edges included) and every MMSE score.
_INSERT_PATIENTS = """
WITH new AS (
    SELECT md5(random()::text || i) AS user_id,
           'Count Patient ' || md5(random()::text || i) AS name,
           (i % (:max_age + 1)) AS age, ((i * 7) % 31) AS mmse
    FROM generate_series(1, :n) AS i
), u AS (
    INSERT INTO users (user_id, name, password, status)
    SELECT user_id, name, 'not-a-login', 'patient' FROM new
)
INSERT INTO patients (user_id, name, age, mmse) SELECT user_id, name, age, mmse FROM new
"""


@pytest.fixture(scope="module")
def rows(clean_db_module) -> list[tuple[int, int]]:
    with clean_db_module.begin() as conn:
        conn.execute(text(_INSERT_PATIENTS), {"n": 3000, "max_age": MAX_AGE})
    with clean_db_module.connect() as conn:
        return [tuple(row) for row in conn.execute(text("SELECT age, mmse FROM patients"))]


@pytest.fixture(scope="module")
def http(settings, rows):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def expected(rows, over: bool, mmse: int, min_age: int | None, max_age: int | None) -> int:
    return sum(
        1
        for age, score in rows
        if (score > mmse if over else score < mmse)
        and (min_age is None or age >= min_age)
        and (max_age is None or age <= max_age)
    )


ages = st.none() | st.integers(0, MAX_AGE)


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(over=st.booleans(), mmse=st.integers(0, 30), min_age=ages, max_age=ages)
def test_counts_match_the_rows_for_any_threshold_and_age_bounds(
    http, rows, over, mmse, min_age, max_age
):
    params = {k: v for k, v in {"min_age": min_age, "max_age": max_age}.items() if v is not None}
    response = http.get(f"/count_{'over' if over else 'under'}/{mmse}", params=params)
    if min_age is not None and max_age is not None and min_age > max_age:
        assert response.status_code == 422
        return
    assert response.status_code == 200
    assert response.json() == {"count": expected(rows, over, mmse, min_age, max_age)}


def test_the_data_covers_every_score_and_the_age_edges(rows):
    assert {score for _, score in rows} == set(range(31))
    assert {0, MAX_AGE} <= {age for age, _ in rows}


@pytest.mark.parametrize(
    "url",
    [
        "/count_over/31",
        "/count_under/-1",
        "/count_over/abc",
        "/count_over/20.5",
        "/count_over/99999999999999999999999",
        "/count_over/20?min_age=-1",
        "/count_under/20?max_age=-5",
        "/count_over/20?min_age=60&max_age=50",
        "/count_over/20?min_age=ten",
        "/count_over/20?max_age=100000000000",
    ],
)
def test_bad_thresholds_and_bounds_are_422(http, url):
    response = http.get(url)
    assert response.status_code == 422
    assert "detail" in response.json()


def test_boundaries_are_strict_for_mmse_and_inclusive_for_age(http, rows):
    assert http.get("/count_over/30").json() == {"count": 0}
    assert http.get("/count_under/0").json() == {"count": 0}
    over = http.get("/count_over/20", params={"min_age": 40, "max_age": 40}).json()["count"]
    assert over == sum(1 for age, score in rows if age == 40 and score > 20) > 0


async def test_a_created_patient_is_counted_by_the_next_request(pool, client, db):
    before = (await client.get("/count_under/3", params={"min_age": 101, "max_age": 101})).json()
    await make_user(pool, Role.PATIENT, age=101, mmse=2)
    after = (await client.get("/count_under/3", params={"min_age": 101, "max_age": 101})).json()
    assert after["count"] == before["count"] + 1


def test_a_misspelt_bound_is_refused_rather_than_ignored(http):
    response = http.get("/count_over/20", params={"minage": 60})
    assert response.status_code == 422
    assert "min_age, max_age" in response.json()["detail"]
