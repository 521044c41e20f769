"""What the database itself enforces (SPEC §1), and that migrations match the models."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from docmemo.db.migrate import current_revision, head_revision
from docmemo.db.models import Base


def new_id() -> str:
    return uuid.uuid4().hex


def insert_user(
    conn, status: str = "caregiver", name: str | None = None, user_id: str | None = None
):
    user_id = user_id or new_id()
    name = name or f"Schema {user_id}"
    conn.execute(
        text("INSERT INTO users (user_id, name, password, status) VALUES (:i, :n, 'h', :s)"),
        {"i": user_id, "n": name, "s": status},
    )
    return user_id, name


def insert_caregiver(conn, name: str | None = None) -> str:
    user_id, name = insert_user(conn, "caregiver", name)
    conn.execute(
        text("INSERT INTO caregivers (user_id, name) VALUES (:i, :n)"), {"i": user_id, "n": name}
    )
    return user_id


def insert_patient(conn, age: int = 70, mmse: int = 20, caregiver_id: str | None = None) -> str:
    user_id, name = insert_user(conn, "patient")
    conn.execute(
        text(
            "INSERT INTO patients (user_id, name, age, mmse, caregiver_id) "
            "VALUES (:i, :n, :a, :m, :c)"
        ),
        {"i": user_id, "n": name, "a": age, "m": mmse, "c": caregiver_id},
    )
    return user_id


def refused(sync_engine, write) -> bool:
    """True when the database refuses the writes, at statement time or at commit."""
    try:
        with sync_engine.begin() as conn:
            write(conn)
    except (IntegrityError, DBAPIError):
        return True
    return False


def test_schema_is_at_the_migrations_head(sync_engine):
    with sync_engine.connect() as conn:
        assert current_revision(conn) == head_revision()


def test_migrations_and_models_describe_the_same_schema(sync_engine):
    with sync_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_a_valid_family_is_accepted(sync_engine):
    assert not refused(sync_engine, lambda c: insert_patient(c, caregiver_id=insert_caregiver(c)))


@pytest.mark.parametrize("mmse", [-1, 31])
def test_mmse_outside_0_to_30_is_refused(sync_engine, mmse):
    assert refused(sync_engine, lambda c: insert_patient(c, mmse=mmse))


def test_negative_age_is_refused(sync_engine):
    assert refused(sync_engine, lambda c: insert_patient(c, age=-1))


def test_unknown_status_and_specialty_are_refused(sync_engine):
    assert refused(sync_engine, lambda c: insert_user(c, status="admin"))

    def healthpro(conn, specialty):
        user_id, name = insert_user(conn, "healthpro")
        conn.execute(
            text("INSERT INTO healthpros (user_id, name, specialty) VALUES (:i, :n, :s)"),
            {"i": user_id, "n": name, "s": specialty},
        )

    assert refused(sync_engine, lambda c: healthpro(c, "surgeon"))
    assert not refused(sync_engine, lambda c: healthpro(c, "neurologist"))


@pytest.mark.parametrize("user_id", ["ABCDEF" + "0" * 26, "1234", str(uuid.uuid4())])
def test_user_id_must_be_32_lowercase_hex(sync_engine, user_id):
    assert refused(sync_engine, lambda c: insert_user(c, user_id=user_id))


def test_names_are_unique_without_regard_to_case(sync_engine):
    name = f"Élodie Unique {new_id()}"
    assert not refused(sync_engine, lambda c: insert_caregiver(c, name))
    assert refused(sync_engine, lambda c: insert_caregiver(c, name.upper()))
    assert refused(sync_engine, lambda c: insert_caregiver(c, name.lower()))


def test_a_user_without_its_role_row_is_refused_at_commit(sync_engine):
    assert refused(sync_engine, lambda c: insert_user(c, "patient"))


def test_a_role_row_without_its_user_is_refused(sync_engine):
    def orphan(conn):
        conn.execute(
            text("INSERT INTO caregivers (user_id, name) VALUES (:i, 'Orphan')"), {"i": new_id()}
        )

    assert refused(sync_engine, orphan)


def test_a_role_row_must_match_the_users_status_and_name(sync_engine):
    def wrong_table(conn):
        user_id, name = insert_user(conn, "patient")
        conn.execute(
            text("INSERT INTO caregivers (user_id, name) VALUES (:i, :n)"),
            {"i": user_id, "n": name},
        )

    def wrong_name(conn):
        user_id, _ = insert_user(conn, "caregiver")
        conn.execute(
            text("INSERT INTO caregivers (user_id, name) VALUES (:i, 'Someone Else')"),
            {"i": user_id},
        )

    assert refused(sync_engine, wrong_table)
    assert refused(sync_engine, wrong_name)


def test_deleting_a_role_row_alone_is_refused_but_deleting_the_user_cascades(sync_engine):
    with sync_engine.begin() as conn:
        carer = insert_caregiver(conn)
        patient = insert_patient(conn, caregiver_id=carer)
    assert refused(
        sync_engine,
        lambda c: c.execute(text("DELETE FROM caregivers WHERE user_id = :i"), {"i": carer}),
    )
    with sync_engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE user_id = :i"), {"i": carer})
    with sync_engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT caregiver_id FROM patients WHERE user_id = :i"), {"i": patient}
            ).scalar_one()
            is None
        )


def test_caregiver_id_must_name_a_caregiver(sync_engine):
    assert refused(sync_engine, lambda c: insert_patient(c, caregiver_id=new_id()))
    assert refused(sync_engine, lambda c: insert_patient(c, caregiver_id=insert_patient(c)))


def test_changing_a_users_status_without_moving_its_role_row_is_refused(sync_engine):
    with sync_engine.begin() as conn:
        carer = insert_caregiver(conn)
    assert refused(
        sync_engine,
        lambda c: c.execute(
            text("UPDATE users SET status = 'patient' WHERE user_id = :i"), {"i": carer}
        ),
    )
