"""Rebuilding the registry in a real PostgreSQL (SPEC §2)."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from docmemo.auth.passwords import verify_password
from docmemo.errors import RebuildInProgress
from docmemo.seeding.generator import generate_registry, role_counts
from docmemo.seeding.names import name_lists
from docmemo.seeding.service import (
    ADVISORY_LOCK_KEY,
    SeedReport,
    _load,
    _progress_bar,
    rebuild_registry,
    registry_is_empty,
    seed_if_empty,
)
from docmemo.users.names import name_key
from tests.db.test_schema import insert_user, refused

PASSWORD = "Demo-Password-1"
USERS = 2_345  # not a multiple of 100, and P/C is not an integer
SEED = 2024


@pytest.fixture
def seeded(clean_db: Engine) -> SeedReport:
    return rebuild_registry(clean_db, USERS, SEED, PASSWORD, progress=False)


def _scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def _table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM users) AS users,"
                " (SELECT count(*) FROM patients) AS patients,"
                " (SELECT count(*) FROM caregivers) AS caregivers,"
                " (SELECT count(*) FROM healthpros) AS healthpros,"
                " (SELECT count(*) FROM healthpros WHERE specialty = 'general') AS general,"
                " (SELECT count(*) FROM healthpros WHERE specialty = 'psychologist')"
                "   AS psychologists,"
                " (SELECT count(*) FROM healthpros WHERE specialty = 'neurologist')"
                "   AS neurologists"
            )
        ).one()
    return dict(row._mapping)


def _report_counts(report: SeedReport) -> dict[str, int]:
    return {
        "users": report.users,
        "patients": report.patients,
        "caregivers": report.caregivers,
        "healthpros": report.healthpros,
        "general": report.general,
        "psychologists": report.psychologists,
        "neurologists": report.neurologists,
    }


def _add_session_and_throttle(engine: Engine) -> None:
    with engine.begin() as conn:
        user_id = conn.execute(text("SELECT user_id FROM users LIMIT 1")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO sessions (token_hash, user_id, expires_at)"
                " VALUES (:token, :user_id, :expires)"
            ),
            {
                "token": uuid.uuid4().bytes * 2,
                "user_id": user_id,
                "expires": datetime.now(UTC) + timedelta(hours=1),
            },
        )
        conn.execute(
            text(
                "INSERT INTO login_throttle (account_key, failures, last_failure_at)"
                " VALUES ('someone', 3, now())"
            )
        )


def test_counts_match_the_report_and_the_shares(seeded: SeedReport, clean_db: Engine) -> None:
    counts = role_counts(USERS)
    assert _table_counts(clean_db) == _report_counts(seeded)
    assert _report_counts(seeded) == {
        "users": USERS,
        "patients": counts.patients,
        "caregivers": counts.caregivers,
        "healthpros": counts.healthpros,
        "general": counts.general,
        "psychologists": counts.psychologists,
        "neurologists": counts.neurologists,
    }
    assert seeded.seed == SEED
    assert seeded.elapsed_s > 0


def test_every_user_has_exactly_its_role_row(seeded: SeedReport, clean_db: Engine) -> None:
    mismatched = _scalar(
        clean_db,
        """
        SELECT count(*) FROM users u
        WHERE (SELECT count(*) FROM patients p WHERE p.user_id = u.user_id)
            + (SELECT count(*) FROM caregivers c WHERE c.user_id = u.user_id)
            + (SELECT count(*) FROM healthpros h WHERE h.user_id = u.user_id) <> 1
           OR NOT EXISTS (
                SELECT 1 FROM (
                    SELECT user_id, name, status FROM patients
                    UNION ALL SELECT user_id, name, status FROM caregivers
                    UNION ALL SELECT user_id, name, status FROM healthpros
                ) r
                WHERE (r.user_id, r.name, r.status) = (u.user_id, u.name, u.status)
           )
        """,
    )
    assert mismatched == 0


def test_user_ids_are_random_uuid4_hex(seeded: SeedReport, clean_db: Engine) -> None:
    with clean_db.connect() as conn:
        ids = conn.execute(text("SELECT user_id FROM users")).scalars().all()
    assert len(ids) == len(set(ids)) == USERS
    for user_id in ids:
        assert len(user_id) == 32
        assert uuid.UUID(hex=user_id).hex == user_id
        assert uuid.UUID(hex=user_id).version == 4


def test_all_users_share_one_argon2id_hash_of_the_password(
    seeded: SeedReport, clean_db: Engine
) -> None:
    with clean_db.connect() as conn:
        hashes = conn.execute(text("SELECT DISTINCT password FROM users")).scalars().all()
    assert len(hashes) == 1
    assert hashes[0].startswith("$argon2id$")
    assert verify_password(hashes[0], PASSWORD)
    assert not verify_password(hashes[0], PASSWORD.lower())


def test_report_holds_neither_password_nor_hash(seeded: SeedReport, clean_db: Engine) -> None:
    stored_hash = _scalar(clean_db, "SELECT password FROM users LIMIT 1")
    as_text = repr(dataclasses.asdict(seeded))
    assert PASSWORD not in as_text
    assert str(stored_hash) not in as_text
    assert "argon2" not in as_text


def test_caregiver_loads_are_fair_in_sql(seeded: SeedReport, clean_db: Engine) -> None:
    with clean_db.connect() as conn:
        low, high = conn.execute(
            text(
                "SELECT min(n), max(n) FROM ("
                "  SELECT c.user_id, count(p.user_id) AS n"
                "  FROM caregivers c LEFT JOIN patients p ON p.caregiver_id = c.user_id"
                "  GROUP BY c.user_id) loads"
            )
        ).one()
        orphans = conn.execute(
            text("SELECT count(*) FROM patients WHERE caregiver_id IS NULL")
        ).scalar_one()
    assert seeded.patients % seeded.caregivers != 0  # the interesting case
    assert (low, high) == (
        seeded.patients // seeded.caregivers,
        seeded.patients // seeded.caregivers + 1,
    )
    assert orphans == 0


def test_ages_and_mmse_in_range(seeded: SeedReport, clean_db: Engine) -> None:
    with clean_db.connect() as conn:
        row = conn.execute(
            text("SELECT min(age), max(age), min(mmse), max(mmse) FROM patients")
        ).one()
    assert tuple(row) == (25, 90, 5, 30)


def test_names_are_unique_ignoring_case(seeded: SeedReport, clean_db: Engine) -> None:
    assert _scalar(clean_db, "SELECT count(DISTINCT name_key(name)) FROM users") == USERS


def test_postgresql_name_key_agrees_with_python_on_every_name_token(
    sync_engine: Engine,
) -> None:
    # Uniqueness is decided in Python with name_key() but enforced by SQL name_key(name).
    tokens = sorted({token for tokens in name_lists() for token in tokens})
    with sync_engine.connect() as conn:
        lowered = (
            conn.execute(
                text(
                    "SELECT name_key(t) FROM unnest(CAST(:tokens AS text[]))"
                    " WITH ORDINALITY AS x(t, i) ORDER BY i"
                ),
                {"tokens": tokens},
            )
            .scalars()
            .all()
        )
    assert lowered == [name_key(token) for token in tokens]


def test_database_matches_the_generator(seeded: SeedReport, clean_db: Engine) -> None:
    registry = generate_registry(USERS, SEED)
    with clean_db.connect() as conn:
        rows = conn.execute(
            text("SELECT user_id, name, age, mmse, caregiver_id FROM patients")
        ).all()
    assert {tuple(row) for row in rows} == set(registry.patients())


def test_sample_accounts_exist_with_their_roles(seeded: SeedReport, clean_db: Engine) -> None:
    assert [(a.status, a.specialty) for a in seeded.sample_accounts] == [
        ("patient", None),
        ("caregiver", None),
        ("healthpro", "general"),
        ("healthpro", "psychologist"),
        ("healthpro", "neurologist"),
    ]
    with clean_db.connect() as conn:
        for account in seeded.sample_accounts:
            status, specialty = conn.execute(
                text(
                    "SELECT u.status, h.specialty FROM users u"
                    " LEFT JOIN healthpros h USING (user_id) WHERE lower(u.name) = lower(:name)"
                ),
                {"name": account.name},
            ).one()
            assert (status, specialty) == (account.status, account.specialty)


def test_small_registry_samples_what_exists(clean_db: Engine) -> None:
    report = rebuild_registry(clean_db, 7, 1, PASSWORD, progress=False)
    assert [(a.status, a.specialty) for a in report.sample_accounts] == [
        ("patient", None),
        ("caregiver", None),
        ("healthpro", "general"),
    ]
    assert _table_counts(clean_db)["users"] == 7


def test_rebuild_replaces_everything(seeded: SeedReport, clean_db: Engine) -> None:
    with clean_db.connect() as conn:
        before = set(conn.execute(text("SELECT user_id FROM users")).scalars())
    _add_session_and_throttle(clean_db)

    report = rebuild_registry(clean_db, 1_001, SEED + 1, PASSWORD, progress=False)

    assert _table_counts(clean_db) == _report_counts(report)
    assert report.users == 1_001
    with clean_db.connect() as conn:
        after = set(conn.execute(text("SELECT user_id FROM users")).scalars())
    assert not before & after
    assert _scalar(clean_db, "SELECT count(*) FROM sessions") == 0
    assert _scalar(clean_db, "SELECT count(*) FROM login_throttle") == 0


def test_same_seed_rebuilds_the_same_registry(seeded: SeedReport, clean_db: Engine) -> None:
    query = text("SELECT user_id, name, age, mmse, caregiver_id FROM patients ORDER BY user_id")
    with clean_db.connect() as conn:
        before = conn.execute(query).all()
    again = rebuild_registry(clean_db, USERS, SEED, PASSWORD, progress=False)
    with clean_db.connect() as conn:
        after = conn.execute(query).all()
    assert after == before
    assert again.sample_accounts == seeded.sample_accounts


def test_rebuild_to_zero_users(seeded: SeedReport, clean_db: Engine) -> None:
    report = rebuild_registry(clean_db, 0, SEED, PASSWORD, progress=False)
    assert report.users == 0
    assert report.sample_accounts == []
    assert registry_is_empty(clean_db)


def test_seed_if_empty_does_nothing_on_a_filled_registry(
    seeded: SeedReport, clean_db: Engine
) -> None:
    with clean_db.connect() as conn:
        before = set(conn.execute(text("SELECT user_id FROM users")).scalars())
    assert not registry_is_empty(clean_db)
    assert seed_if_empty(clean_db, 500, SEED + 7, PASSWORD, progress=False) is None
    with clean_db.connect() as conn:
        after = set(conn.execute(text("SELECT user_id FROM users")).scalars())
    assert after == before


def test_seed_if_empty_seeds_an_empty_registry(clean_db: Engine) -> None:
    assert registry_is_empty(clean_db)
    report = seed_if_empty(clean_db, 300, SEED, PASSWORD, progress=False)
    assert report is not None
    assert _table_counts(clean_db) == _report_counts(report)


def _run_together(work: Callable[[int], object], seeds: tuple[int, ...]) -> list[object]:
    """Run ``work(seed)`` for each seed in its own thread, all released at once;
    return their results, failing the test if any raised."""
    barrier = threading.Barrier(len(seeds))
    results: list[object] = []
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            barrier.wait()
            results.append(work(seed))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in seeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(results) == len(seeds)
    return results


def test_two_processes_starting_together_seed_once(clean_db: Engine) -> None:
    results = _run_together(
        lambda seed: seed_if_empty(clean_db, 400, seed, PASSWORD, progress=False), (1, 2)
    )
    seeded_reports = [report for report in results if report is not None]
    assert len(seeded_reports) == 1
    assert _table_counts(clean_db) == _report_counts(seeded_reports[0])


def test_a_rebuild_while_another_runs_is_refused_and_changes_nothing(
    seeded: SeedReport, clean_db: Engine
) -> None:
    # Two real rebuild processes racing: tests/seeding/test_rebuild_races.py.
    with clean_db.connect() as running, running.begin(), ThreadPoolExecutor(1) as other:
        running.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        second = other.submit(rebuild_registry, clean_db, 300, SEED + 1, PASSWORD, progress=False)
        try:
            second.result(timeout=30)
        except TimeoutError:
            pytest.fail("the second rebuild waited for the first instead of being refused")
        except RebuildInProgress:
            pass
        else:
            pytest.fail("the second rebuild ran while the first held the lock")
    assert _table_counts(clean_db) == _report_counts(seeded)


def test_rebuild_with_progress_bar(clean_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    report = rebuild_registry(clean_db, 150, SEED, PASSWORD, progress=True)
    assert report.users == 150
    assert "Patients" in capsys.readouterr().err


def test_invalid_count_leaves_the_registry_intact(seeded: SeedReport, clean_db: Engine) -> None:
    with pytest.raises(ValueError, match="negative"):
        rebuild_registry(clean_db, -1, SEED, PASSWORD, progress=False)
    assert _table_counts(clean_db) == _report_counts(seeded)


_SCHEMA_OBJECTS = text("""
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' '
           || pg_get_constraintdef(oid) || ' validated=' || convalidated
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(indexrelid) || ' valid=' || indisvalid
    FROM pg_index JOIN pg_class ON pg_class.oid = indrelid
    WHERE relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'trigger ' || tgrelid::regclass || ' ' || tgname || ' enabled=' || tgenabled::text
    FROM pg_trigger WHERE NOT tgisinternal
""")


def test_a_rebuild_leaves_every_key_index_and_trigger_as_the_migrations_made_them(
    clean_db: Engine,
) -> None:
    # The load drops keys and indexes and disables a trigger for speed (_bulk_load).
    with clean_db.connect() as conn:
        before = set(conn.execute(_SCHEMA_OBJECTS).scalars())
    rebuild_registry(clean_db, 300, 5, "pw", progress=False)
    with clean_db.connect() as conn:
        after = set(conn.execute(_SCHEMA_OBJECTS).scalars())
    assert after == before
    assert any("users_check_role_row enabled=O" in item for item in after)
    assert any("uq_users_name_key" in item for item in after)


def test_rules_are_enforced_again_after_a_rebuild(clean_db: Engine) -> None:
    rebuild_registry(clean_db, 300, 5, "pw", progress=False)
    assert refused(clean_db, lambda conn: insert_user(conn, "patient"))


_HISTORIES_BREAKING_THE_RULES = """
    WITH h AS (
        SELECT a.*, count(*) OVER w AS visits,
               row_number() OVER (w ORDER BY assessed_at DESC, assessment_id DESC) AS from_last,
               assessed_at - lag(assessed_at) OVER (w ORDER BY assessed_at, assessment_id)
                   AS gap_days
        FROM assessments a
        WINDOW w AS (PARTITION BY patient_id)
    )
    SELECT
        (SELECT count(*) FROM patients p
         WHERE NOT EXISTS (SELECT 1 FROM assessments a WHERE a.patient_id = p.user_id))
            AS without_history,
        (SELECT count(*) FROM h JOIN patients p ON p.user_id = h.patient_id
         WHERE h.from_last = 1 AND h.mmse <> p.mmse) AS last_score_not_current,
        (SELECT count(*) FROM h WHERE visits NOT BETWEEN 1 AND 8) AS too_many_visits,
        (SELECT count(*) FROM h WHERE gap_days NOT BETWEEN 122 AND 426) AS gaps_out_of_range,
        (SELECT count(*) FROM h WHERE assessed_at > CURRENT_DATE
            OR assessed_at < CURRENT_DATE - 6 * 366 - 90) AS dates_out_of_range,
        (SELECT count(*) FROM h WHERE recorded_by IS NOT NULL) AS with_a_recorder
"""


def test_every_seeded_patient_has_a_history_ending_at_their_score(
    seeded: SeedReport, clean_db: Engine
) -> None:
    with clean_db.connect() as conn:
        broken = conn.execute(text(_HISTORIES_BREAKING_THE_RULES)).one()
    assert broken._asdict() == dict.fromkeys(broken._fields, 0)
    assessments = _scalar(clean_db, "SELECT count(*) FROM assessments")
    assert seeded.assessments == assessments
    assert seeded.patients < assessments <= 8 * seeded.patients


def test_seeded_histories_match_the_generator_ids_included(
    seeded: SeedReport, clean_db: Engine
) -> None:
    query = text(
        "SELECT assessment_id, patient_id, mmse, assessed_at FROM assessments"
        " ORDER BY assessment_id"
    )
    with clean_db.connect() as conn:
        before = [tuple(row) for row in conn.execute(query)]
    expected = generate_registry(USERS, SEED).assessments()
    assert [row[1:] for row in before] == list(expected)
    assert [row[0] for row in before] == list(range(1, len(before) + 1))

    rebuild_registry(clean_db, USERS, SEED, PASSWORD, progress=False)
    with clean_db.connect() as conn:
        assert [tuple(row) for row in conn.execute(query)] == before


def test_assessment_rules_are_enforced_again_after_a_rebuild(
    seeded: SeedReport, clean_db: Engine
) -> None:
    def assess(user_id: str, mmse: int = 20):
        return lambda conn: conn.execute(
            text("INSERT INTO assessments (patient_id, mmse, assessed_at) VALUES (:p, :m, now())"),
            {"p": user_id, "m": mmse},
        )

    patient = _scalar(clean_db, "SELECT user_id FROM patients LIMIT 1")
    caregiver = _scalar(clean_db, "SELECT user_id FROM caregivers LIMIT 1")
    assert not refused(clean_db, assess(patient))
    assert refused(clean_db, assess(caregiver))
    assert refused(clean_db, assess(patient, 31))
    with clean_db.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE user_id = :p"), {"p": patient})
        left = conn.execute(
            text("SELECT count(*) FROM assessments WHERE patient_id = :p"), {"p": patient}
        ).scalar_one()
    assert left == 0


def test_a_failure_while_simulating_histories_leaves_the_registry_as_it_was(
    seeded: SeedReport, clean_db: Engine
) -> None:
    # Histories are simulated in a thread (_HistoriesAhead): its error must reach the
    # load, and the load's transaction must undo everything.
    registry = generate_registry(500, SEED + 3)
    # Dates before the first day of the calendar: the simulation fails, the rest loads.
    broken = dataclasses.replace(registry, today=date.min)
    with (
        pytest.raises(OverflowError),
        _progress_bar(False) as bar,
        clean_db.begin() as conn,
    ):
        _load(conn, lambda: broken, lambda: "hash", bar)
    assert _table_counts(clean_db) == _report_counts(seeded)
    assert _scalar(clean_db, "SELECT count(*) FROM assessments") == seeded.assessments
