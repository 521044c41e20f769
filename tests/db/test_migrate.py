"""Migrating only when needed: the schema's head known without importing Alembic."""

from __future__ import annotations

from sqlalchemy import Engine, text

from docmemo.db.migrate import SCHEMA_HEAD, head_revision, is_at_head


def test_the_head_known_without_alembic_is_alembics():
    # A new migration must change SCHEMA_HEAD too, or commands would not migrate to it.
    assert head_revision() == SCHEMA_HEAD


def test_is_at_head_only_when_the_database_holds_the_head(sync_engine: Engine):
    with sync_engine.connect() as conn:
        assert is_at_head(conn)
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        assert not is_at_head(conn)
        conn.rollback()
        conn.execute(text("INSERT INTO alembic_version VALUES ('another')"))
        assert not is_at_head(conn)  # two heads recorded: Alembic's to sort out
        conn.rollback()
        conn.execute(text("ALTER TABLE alembic_version RENAME TO alembic_version_away"))
        assert not is_at_head(conn)  # a database never migrated
        conn.rollback()
        assert is_at_head(conn)
