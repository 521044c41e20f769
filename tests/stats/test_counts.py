"""GET /count_over/{mmse} and /count_under/{mmse}, and count_many, the batch behind them:
exact counts, checked against the rows."""

from __future__ import annotations

import random

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text

from docmemo.db.models import MAX_AGE, Role
from docmemo.errors import InvalidInput
from docmemo.stats import service
from docmemo.stats.service import Comparison, CountQuery
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


@pytest.fixture
async def patients(db, rows) -> list[tuple[int, int]]:
    """(age, mmse) of every patient now: earlier tests of the module may add some."""
    cursor = await db.execute("SELECT age, mmse FROM patients")
    return [tuple(row) for row in await cursor.fetchall()]


def _random_query(rng: random.Random) -> CountQuery:
    # Thresholds and bounds beyond what the API lets through too: count_many clamps
    # them rather than subscripting outside the arrays.
    bounds = sorted(rng.randint(-5, MAX_AGE + 5) for _ in range(2))
    return CountQuery(
        rng.choice(list(Comparison)),
        rng.randint(-2, 32),
        rng.choice([None, bounds[0]]),
        rng.choice([None, bounds[1]]),
    )


async def test_a_batch_answers_each_count_in_order_duplicates_included(db, patients):
    rng = random.Random(2024)
    for size in [1, 2, 7, 31, 100, 256]:
        queries = [_random_query(rng) for _ in range(size)]
        queries += rng.choices(queries, k=size // 2)  # the same count twice in one batch
        rng.shuffle(queries)
        answers = await service.count_many(db, queries)
        assert answers == [
            expected(patients, q.comparison == Comparison.OVER, q.mmse, q.min_age, q.max_age)
            for q in queries
        ]


async def test_every_threshold_and_bound_edge_in_one_batch(db, patients):
    queries = [
        CountQuery(comparison, mmse, min_age, max_age)
        for comparison in Comparison
        for mmse in range(31)
        for min_age, max_age in [(None, None), (0, 0), (MAX_AGE, MAX_AGE), (0, MAX_AGE), (30, 31)]
    ]
    answers = await service.count_many(db, queries)
    assert answers == [
        expected(patients, q.comparison == Comparison.OVER, q.mmse, q.min_age, q.max_age)
        for q in queries
    ]


async def test_the_batch_agrees_with_count_over_the_patients(db, patients):
    queries = [CountQuery(Comparison.OVER, 12, 40, 80), CountQuery(Comparison.UNDER, 25)]
    cursor = await db.execute(
        "SELECT (SELECT count(*) FROM patients WHERE mmse > 12 AND age BETWEEN 40 AND 80) AS over,"
        " (SELECT count(*) FROM patients WHERE mmse < 25) AS under"
    )
    assert await service.count_many(db, queries) == list(await cursor.fetchone())


async def test_an_empty_batch_has_no_answers(db):
    assert await service.count_many(db, []) == []


async def test_count_patients_is_a_batch_of_one_and_checks_its_bounds(db, patients):
    assert await service.count_patients(db, Comparison.UNDER, 20, 30, 70) == expected(
        patients, False, 20, 30, 70
    )
    with pytest.raises(InvalidInput):
        await service.count_patients(db, Comparison.OVER, 20, 70, 30)


def test_a_query_is_checked_before_it_can_join_a_batch():
    query = service.count_query(Comparison.OVER, 20, 30, 30)
    assert query == CountQuery(Comparison.OVER, 20, 30, 30)
    with pytest.raises(InvalidInput, match="min_age"):
        service.count_query(Comparison.UNDER, 20, 31, 30)


def test_equal_queries_are_one_key():
    assert CountQuery(Comparison.OVER, 3, None, 60) == CountQuery(Comparison.OVER, 3, None, 60)
    assert len({CountQuery(Comparison.OVER, 3), CountQuery(Comparison.OVER, 3, None, None)}) == 1
    assert CountQuery(Comparison.OVER, 3) != CountQuery(Comparison.UNDER, 3)
