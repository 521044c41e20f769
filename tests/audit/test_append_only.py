"""The audit table is append-only in the database itself (migration 0005)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from docmemo.db.models import AuditAction
from tests.audit.conftest import audit_rows
from tests.db.test_schema import insert_patient

CHANGES = {
    "update": "UPDATE audit_events SET action = 'predict' WHERE subject_id = :subject_id",
    "delete": "DELETE FROM audit_events WHERE subject_id = :subject_id",
    "delete nothing": "DELETE FROM audit_events WHERE false",
    "truncate": "TRUNCATE audit_events",
    "truncate cascade": "TRUNCATE users, audit_events CASCADE",
}


def _file_event(engine: Engine, subject_id: str, action: str = "read_record") -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_events (subject_id, action) VALUES (:subject_id, :action)"),
            {"subject_id": subject_id, "action": action},
        )


def _refusal(engine: Engine, statement: str, subject_id: str, setup: str | None = None) -> str:
    """The error the database gives ``statement``; fails the test if it succeeds."""
    with engine.begin() as conn:
        if setup:
            conn.execute(text(setup))
        with pytest.raises(DBAPIError) as refused:
            conn.execute(text(statement), {"subject_id": subject_id})
    return str(refused.value.orig)


@pytest.mark.parametrize("change", CHANGES)
def test_the_tests_role_can_neither_change_nor_remove_audit_rows(sync_engine, change):
    subject_id = uuid.uuid4().hex
    _file_event(sync_engine, subject_id)
    error = _refusal(sync_engine, CHANGES[change], subject_id)
    assert "append-only" in error or "permission denied" in error
    assert [row["action"] for row in audit_rows(sync_engine, subject_id)] == ["read_record"]


def test_replica_mode_does_not_silence_the_trigger(sync_engine):
    """session_replication_role = replica turns ordinary triggers off; this one is
    ENABLE ALWAYS. Setting it needs a superuser, which the tests' role is."""
    with sync_engine.connect() as conn:
        superuser = text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not conn.execute(superuser).scalar_one():
            pytest.skip("only a superuser may set session_replication_role")
    subject_id = uuid.uuid4().hex
    _file_event(sync_engine, subject_id)
    error = _refusal(
        sync_engine,
        CHANGES["delete"],
        subject_id,
        setup="SET LOCAL session_replication_role = replica",
    )
    assert "append-only" in error
    assert len(audit_rows(sync_engine, subject_id)) == 1


def test_a_role_granted_as_the_migration_recommends_appends_and_reads_only(sync_engine):
    """The deployment the migration's docstring recommends: the API's role owns
    nothing and has SELECT and INSERT on audit_events (no sequence privilege)."""
    role = f"docmemo_audit_probe_{uuid.uuid4().hex[:12]}"
    subject_id = uuid.uuid4().hex
    with sync_engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT SELECT, INSERT ON audit_events TO {role}"))
    try:
        with sync_engine.begin() as conn:
            conn.execute(text(f"SET LOCAL ROLE {role}"))
            conn.execute(
                text("INSERT INTO audit_events (subject_id, action) VALUES (:s, 'predict')"),
                {"s": subject_id},
            )
        for change in ("update", "delete", "truncate"):
            error = _refusal(
                sync_engine, CHANGES[change], subject_id, setup=f"SET LOCAL ROLE {role}"
            )
            assert "permission denied" in error
        assert [row["action"] for row in audit_rows(sync_engine, subject_id)] == ["predict"]
    finally:
        with sync_engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))


def test_audit_rows_outlive_the_users_they_name(sync_engine):
    with sync_engine.begin() as conn:
        patient_id = insert_patient(conn)
    _file_event(sync_engine, patient_id)
    with sync_engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE user_id = :i"), {"i": patient_id})
    assert len(audit_rows(sync_engine, patient_id)) == 1


def test_emptying_the_registry_leaves_the_trail(sync_engine):
    """What `docmemo seed --rebuild` and the tests' clean_db do: no foreign key leads
    a cascade from users into the trail (where the trigger would refuse it)."""
    with sync_engine.begin() as conn:
        patient_id = insert_patient(conn)
    _file_event(sync_engine, patient_id)
    with sync_engine.begin() as conn:
        conn.execute(text("TRUNCATE users, patients, caregivers, healthpros, sessions CASCADE"))
    assert len(audit_rows(sync_engine, patient_id)) == 1


def test_every_action_of_the_code_is_one_the_table_accepts(sync_engine):
    subject_id = uuid.uuid4().hex
    for action in AuditAction:
        _file_event(sync_engine, subject_id, action.value)
    assert len(audit_rows(sync_engine, subject_id, skip_creation=False)) == len(AuditAction)
    with pytest.raises(DBAPIError):
        _file_event(sync_engine, subject_id, "read_everything")


def test_the_table_has_no_column_for_a_health_value(sync_engine):
    with sync_engine.connect() as conn:
        columns = conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'audit_events' ORDER BY ordinal_position"
            )
        ).scalars()
        assert list(columns) == [
            "event_id",
            "occurred_at",
            "actor_id",
            "subject_id",
            "action",
            "outcome",
            "address",
        ]
