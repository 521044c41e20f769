"""The counters behind the counts (migrations 0003 and 0008): exact after any mix of
concurrent writes, consistent with what was committed before a request, and read
without touching the patients table, so their cost does not grow with it."""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest
from sqlalchemy import Engine, text

from docmemo.db.models import MAX_AGE
from docmemo.seeding.service import rebuild_registry
from docmemo.stats.service import (
    COUNT_MANY_SQL,
    MMSE_SCORES,
    REGISTRY_COUNTS_SQL,
    Comparison,
    CountQuery,
    count_many_parameters,
)
from tests.helpers import PASSWORD, plan_nodes, unique_name

WRITERS = 6
WRITES_PER_WRITER = 40
REGISTRY_TABLES = {"users", "patients", "caregivers", "healthpros"}

# The cumulative arrays expanded back into patients per (mmse, age) cell: the cell of
# age a is up_to_age[a + 2] - up_to_age[a + 1]. A cell below zero disagrees, and so does
# a short array (NULL cells); _COUNTER_SHAPE checks that every score has its row.
_COUNTER_CELLS = f"""
SELECT c.mmse, age, c.up_to_age[age + 2] - c.up_to_age[age + 1] AS patients
FROM patient_counts_by_mmse AS c CROSS JOIN generate_series(0, {MAX_AGE}) AS age
"""
_COUNTERS_DISAGREE = f"""
SELECT count(*) FROM (
    SELECT mmse, age, count(*) AS patients FROM patients GROUP BY mmse, age
) AS truth
FULL JOIN ({_COUNTER_CELLS}) AS counter USING (mmse, age)
WHERE coalesce(truth.patients, 0) IS DISTINCT FROM counter.patients
"""
_COUNTER_SHAPE = f"""
SELECT count(*) = {MMSE_SCORES}
       AND bool_and(mmse BETWEEN 0 AND 30 AND cardinality(up_to_age) = {MAX_AGE + 2}
                    AND up_to_age[1] = 0)
FROM patient_counts_by_mmse
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
        assert conn.execute(text(_COUNTER_SHAPE)).scalar_one()
        assert conn.execute(text(_COUNTERS_DISAGREE)).scalar_one() == 0
        assert conn.execute(text(_ROLE_COUNTS_DISAGREE)).all() == []


# One statement, as the app writes patients (one statement per transaction): the
# trigger locks the counter rows of a statement in score order, so writers of one
# statement each never deadlock. Several statements writing patients in one
# transaction could, as their rows would be locked in no common order.
_INSERT_PATIENTS = """
WITH new AS (
    SELECT * FROM unnest(
        CAST(:user_ids AS text[]), CAST(:names AS text[]),
        CAST(:ages AS smallint[]), CAST(:scores AS smallint[])
    ) AS new(user_id, name, age, mmse)
), new_users AS (
    INSERT INTO users (user_id, name, password, status)
    SELECT user_id, name, 'x', 'patient' FROM new
)
INSERT INTO patients (user_id, name, age, mmse) SELECT user_id, name, age, mmse FROM new
"""


def _insert_patients_at(conn, cells: list[tuple[int, int]]) -> None:
    """A patient for each (mmse, age), in one statement."""
    user_ids = [uuid.uuid4().hex for _ in cells]
    conn.execute(
        text(_INSERT_PATIENTS),
        {
            "user_ids": user_ids,
            "names": [unique_name("Counter") for _ in cells],
            "ages": [age for _, age in cells],
            "scores": [mmse for mmse, _ in cells],
        },
    )


def _insert_patients(conn, how_many: int, rng: random.Random) -> None:
    _insert_patients_at(conn, [(rng.randint(0, 30), rng.randint(40, 100)) for _ in range(how_many)])


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
                        # Several patients, several scores: the counter rows are locked
                        # in score order. The patients' own rows first, in key order,
                        # lest two writers deadlock on them rather than on the counters.
                        text("""WITH chosen AS (
                                    SELECT user_id FROM patients ORDER BY random() LIMIT 3
                                ), locked AS (
                                    SELECT user_id FROM patients WHERE user_id IN (
                                        SELECT user_id FROM chosen)
                                    ORDER BY user_id FOR UPDATE
                                )
                                UPDATE patients
                                SET mmse = (mmse + :shift) % 31, age = (age + :older) % 131
                                WHERE user_id IN (SELECT user_id FROM locked)"""),
                        {"shift": rng.randint(1, 30), "older": rng.randint(0, 130)},
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


def test_every_score_has_its_row_whatever_the_registry_holds(clean_db):
    # The count queries read the same rows at any size: constant cost.
    with clean_db.connect() as conn:
        assert conn.execute(text(_COUNTER_SHAPE)).scalar_one()
        assert conn.execute(text(_COUNTERS_DISAGREE)).scalar_one() == 0


def _insert_patient_and_wait(engine: Engine, mmse: int, age: int, committed: threading.Event):
    """Insert a patient in a transaction of its own (waiting for the counter row while
    another writer holds it), commit, and say so."""
    with engine.connect() as conn:
        _insert_patients_at(conn, [(mmse, age)])
        conn.commit()
    committed.set()


def _wait_until_blocked_on_a_lock(engine: Engine) -> None:
    with engine.connect() as conn:
        for _ in range(200):
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
            if waiting:
                return
            conn.rollback()  # a fresh snapshot of pg_stat_activity
            time.sleep(0.05)
    raise AssertionError("the second writer never waited for the first")


@pytest.mark.parametrize("ages", [(40, 60), (60, 40), (50, 50)])
def test_a_writer_that_waited_for_the_counter_row_adds_to_the_committed_version(clean_db, ages):
    # Under READ COMMITTED the second writer's UPDATE finds the row changed by the first
    # after its snapshot was taken: the new array must be computed from the committed
    # version, or the first writer's patient is lost.
    first_age, second_age = ages
    with clean_db.connect() as first:
        _insert_patients_at(first, [(17, first_age)])  # holds the row of MMSE 17
        committed = threading.Event()
        second = threading.Thread(
            target=_insert_patient_and_wait, args=(clean_db, 17, second_age, committed)
        )
        second.start()
        _wait_until_blocked_on_a_lock(clean_db)
        assert not committed.is_set()
        first.commit()
    second.join()
    assert committed.is_set()
    assert_counters_exact(clean_db)
    with clean_db.connect() as conn:
        assert (
            conn.execute(
                text("SELECT up_to_age[:last] FROM patient_counts_by_mmse WHERE mmse = 17"),
                {"last": MAX_AGE + 2},
            ).scalar_one()
            == 2
        )


def test_one_statement_changing_many_cells_moves_each_once(clean_db):
    with clean_db.connect() as conn:
        _insert_patients(conn, 300, random.Random(3))
        # Every patient moves: scores swap places, ages shift, some cells cancel out.
        conn.execute(text("UPDATE patients SET mmse = 30 - mmse, age = (age + 7) % 131"))
        conn.execute(text("UPDATE patients SET age = age WHERE mmse < 10"))
        conn.execute(
            text(
                "DELETE FROM users WHERE user_id IN (SELECT user_id FROM patients "
                "WHERE age % 3 = 0)"
            )
        )
        conn.commit()
        # Rows at both ends of the age range, the first and last entries of the arrays.
        _insert_patients_at(conn, [(0, 0), (30, MAX_AGE), (0, MAX_AGE), (30, 0)])
        conn.commit()
    assert_counters_exact(clean_db)


def test_a_rolled_back_write_leaves_the_counters_as_they_were(clean_db):
    with clean_db.connect() as conn:
        _insert_patients(conn, 30, random.Random(4))
        conn.commit()
        before = conn.execute(text("SELECT * FROM patient_counts_by_mmse ORDER BY mmse")).all()
        _insert_patients(conn, 10, random.Random(5))
        conn.execute(text("UPDATE patients SET mmse = 0"))
        conn.rollback()
        assert conn.execute(text("SELECT * FROM patient_counts_by_mmse ORDER BY mmse")).all() == (
            before
        )
    assert_counters_exact(clean_db)


def test_a_truncate_resets_the_counters(clean_db):
    with clean_db.connect() as conn:
        _insert_patients(conn, 20, random.Random(2))
        conn.commit()
        conn.execute(text("TRUNCATE users, patients, caregivers, healthpros CASCADE"))
        conn.commit()
        assert (
            conn.execute(
                text("SELECT count(*) FROM patient_counts_by_mmse WHERE up_to_age[:last] <> 0"),
                {"last": MAX_AGE + 2},
            ).scalar()
            == 0
        )
    assert_counters_exact(clean_db)


def test_the_seeding_and_a_rebuild_leave_the_counters_exact(clean_db):
    # TRUNCATE then COPY in one transaction: one trigger run for all the patients.
    rebuild_registry(clean_db, 1_500, 11, PASSWORD, progress=False)
    assert_counters_exact(clean_db)
    rebuild_registry(clean_db, 700, 12, PASSWORD, progress=False)
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
            nodes = plan_nodes(cursor, sql, params)
    finally:
        connection.close()
    return {node[key] for node in nodes for key in ("Relation Name", "Index Name") if key in node}


@pytest.mark.parametrize("comparison", list(Comparison))
@pytest.mark.parametrize(("min_age", "max_age"), [(None, None), (60, 80)])
@pytest.mark.parametrize("batch_size", [1, 3, 200])
def test_the_count_query_reads_the_counters_not_the_patients(
    sync_engine, comparison, min_age, max_age, batch_size
):
    queries = [CountQuery(comparison, mmse % 31, min_age, max_age) for mmse in range(batch_size)]
    read = _relations_read(sync_engine, COUNT_MANY_SQL, count_many_parameters(queries))
    assert read & {"patient_counts_by_mmse", "pk_patient_counts_by_mmse"}
    assert not read & REGISTRY_TABLES


def test_the_status_query_reads_the_counters_not_the_registry(sync_engine):
    read = _relations_read(sync_engine, REGISTRY_COUNTS_SQL, {})
    assert read & {"role_counts", "pk_role_counts"}
    assert not read & REGISTRY_TABLES
