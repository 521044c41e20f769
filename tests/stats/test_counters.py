"""The counters behind the counts (migration 0003): exact after any mix of
concurrent writes, consistent with what was committed before a request, and read
without touching the patients table, so their cost does not grow with it."""

from __future__ import annotations

import json
import random
import threading
import uuid

import pytest
from sqlalchemy import Engine, text

from docmemo.db.models import MAX_AGE
from docmemo.stats.service import _COUNT_SQL, REGISTRY_COUNTS_SQL, Comparison
from tests.helpers import PASSWORD, unique_name

WRITERS = 6
WRITES_PER_WRITER = 40
REGISTRY_TABLES = {"users", "patients", "caregivers", "healthpros"}

_COUNTERS_DISAGREE = """
SELECT count(*) FROM (
    SELECT mmse, age, count(*) AS patients FROM patients GROUP BY mmse, age
) AS truth
FULL JOIN (SELECT * FROM patient_counts WHERE patients <> 0) AS counter USING (mmse, age)
WHERE truth.patients IS DISTINCT FROM counter.patients
"""
_ROLE_COUNTS_DISAGREE = """
SELECT table_name, rows, counted FROM (
    SELECT 'patients' AS table_name, (SELECT count(*) FROM patients) AS rows,
           (SELECT sum(users) FROM role_counts WHERE status = 'patient') AS counted
    UNION ALL
    SELECT 'caregivers', (SELECT count(*) FROM caregivers),
           (SELECT sum(users) FROM role_counts WHERE status = 'caregiver')
    UNION ALL
    SELECT 'healthpros', (SELECT count(*) FROM healthpros),
           (SELECT sum(users) FROM role_counts WHERE status = 'healthpro')
) AS role_tables
WHERE rows <> coalesce(counted, 0)
"""


def assert_counters_exact(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text(_COUNTERS_DISAGREE)).scalar_one() == 0
        assert conn.execute(text(_ROLE_COUNTS_DISAGREE)).all() == []


def _insert_patients(conn, how_many: int, rng: random.Random) -> None:
    for _ in range(how_many):
        user_id = uuid.uuid4().hex
        name = unique_name("Counter")
        conn.execute(
            text("INSERT INTO users (user_id, name, password, status) VALUES (:u, :n, 'x', :s)"),
            {"u": user_id, "n": name, "s": "patient"},
        )
        conn.execute(
            text("INSERT INTO patients (user_id, name, age, mmse) VALUES (:u, :n, :age, :mmse)"),
            {"u": user_id, "n": name, "age": rng.randint(40, 100), "mmse": rng.randint(0, 30)},
        )


def _writer(engine: Engine, seed: int, errors: list[BaseException]) -> None:
    """Random creations, score changes, deletions and rolled-back writes, each in its
    own transaction, as several API processes would make them."""
    rng = random.Random(seed)
    try:
        for _ in range(WRITES_PER_WRITER):
            action = rng.choice(["create", "create", "rescore", "delete", "rollback"])
            with engine.connect() as conn:
                if action == "create":
                    _insert_patients(conn, rng.randint(1, 3), rng)
                elif action == "rescore":
                    conn.execute(
                        text("""UPDATE patients SET mmse = :mmse, age = :age WHERE user_id IN (
                                SELECT user_id FROM patients ORDER BY random() LIMIT 1)"""),
                        {"mmse": rng.randint(0, 30), "age": rng.randint(40, 100)},
                    )
                elif action == "delete":
                    conn.execute(
                        text("""DELETE FROM users WHERE user_id IN (
                                SELECT user_id FROM patients ORDER BY random() LIMIT 1)""")
                    )
                else:
                    _insert_patients(conn, 2, rng)
                    conn.rollback()
                    continue
                conn.commit()
    except BaseException as error:  # reported by the test, in its own thread
        errors.append(error)


def test_counters_stay_exact_under_concurrent_creations_changes_and_deletions(clean_db):
    with clean_db.connect() as conn:
        _insert_patients(conn, 200, random.Random(1))
        conn.commit()
    errors: list[BaseException] = []
    writers = [
        threading.Thread(target=_writer, args=(clean_db, seed, errors)) for seed in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert not errors, errors
    assert_counters_exact(clean_db)


def test_every_cell_has_its_row_whatever_the_registry_holds(clean_db):
    # The count queries read the same rows at any size: constant cost.
    with clean_db.connect() as conn:
        cells = conn.execute(text("SELECT count(*) FROM patient_counts")).scalar_one()
    assert cells == 31 * (MAX_AGE + 1)


def test_a_truncate_resets_the_counters(clean_db):
    with clean_db.connect() as conn:
        _insert_patients(conn, 20, random.Random(2))
        conn.commit()
        conn.execute(text("TRUNCATE users, patients, caregivers, healthpros CASCADE"))
        conn.commit()
        assert (
            conn.execute(text("SELECT count(*) FROM patient_counts WHERE patients <> 0")).scalar()
            == 0
        )
    assert_counters_exact(clean_db)


async def test_a_creation_answered_201_is_in_the_next_count(client, clean_db):
    before = (await client.get("/count_under/13")).json()["count"]
    status_before = (await client.get("/status")).json()["database"]
    created = await client.post(
        f"/create_user/{unique_name('Counted')}",
        params={"status": "patient", "password": PASSWORD, "age": 77, "mmse": 12},
    )
    assert created.status_code == 201
    assert (await client.get("/count_under/13")).json()["count"] == before + 1
    assert (await client.get("/count_over/11", params={"min_age": 77, "max_age": 77})).json() == {
        "count": 1
    }
    status_after = (await client.get("/status")).json()["database"]
    assert status_after["patients"] == status_before["patients"] + 1
    assert status_after["users"] == status_before["users"] + 1


def _relations_read(engine: Engine, sql: str, params: dict) -> set[str]:
    """The tables and indexes the plan of `sql` (the service's own text) reads."""
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            (plan,) = cursor.fetchone()
    finally:
        connection.close()
    found: set[str] = set()

    def walk(node: dict) -> None:
        for key in ("Relation Name", "Index Name"):
            if key in node:
                found.add(node[key])
        for child in node.get("Plans", []):
            walk(child)

    walk((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
    return found


@pytest.mark.parametrize("comparison", list(Comparison))
@pytest.mark.parametrize(("min_age", "max_age"), [(None, None), (60, 80)])
def test_the_count_query_reads_the_counters_not_the_patients(
    sync_engine, comparison, min_age, max_age
):
    read = _relations_read(
        sync_engine, _COUNT_SQL[comparison], {"mmse": 20, "min_age": min_age, "max_age": max_age}
    )
    assert read & {"patient_counts", "pk_patient_counts"}
    assert not read & REGISTRY_TABLES


def test_the_status_query_reads_the_counters_not_the_registry(sync_engine):
    read = _relations_read(sync_engine, REGISTRY_COUNTS_SQL, {})
    assert read & {"role_counts", "pk_role_counts"}
    assert not read & REGISTRY_TABLES
