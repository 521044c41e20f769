"""Schema migrations (Alembic), safe when several processes start together.

Every command migrates first, and almost always there is nothing to migrate.
Finding that out through Alembic means importing it and loading every migration
script (about 0.1 s on this 2-core machine when idle, several times that when busy),
a fixed cost of every ``docmemo seed``. So ``upgrade_to_head`` first compares the
database's ``alembic_version`` with ``SCHEMA_HEAD``, and imports Alembic only when
they differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text

import docmemo

if TYPE_CHECKING:
    from alembic.config import Config

# Any constant shared by every migrator; pg_advisory_lock serialises them.
_MIGRATION_LOCK_KEY = 0x646F636D656D6F  # "docmemo"
# The newest migration's revision, for telling without Alembic that the schema is
# current. A new migration changes it: tests/db/test_migrate.py compares it with
# Alembic's head.
SCHEMA_HEAD = "0008"


def migrations_dir() -> Path:
    package_dir = Path(docmemo.__file__).parent
    bundled = package_dir / "_migrations"  # inside a built wheel
    return bundled if bundled.is_dir() else package_dir.parents[1] / "migrations"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def known_revisions() -> frozenset[str]:
    """Every revision this version's migrations know, old and newest."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(""))
    return frozenset(script.revision for script in scripts.walk_revisions())


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def is_at_head(connection: Connection) -> bool:
    """Whether the database's schema is at ``SCHEMA_HEAD``: its ``alembic_version``
    holds that one revision. Committed by the migration that reached it (PostgreSQL's
    DDL is transactional), so the schema itself is at that revision too."""
    if connection.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
        return False  # a new database (Alembic finds the table on the search path too)
    versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    return versions.all() == [SCHEMA_HEAD]


def upgrade_to_head(engine: Engine) -> None:
    """Migrate to the newest revision; concurrent callers wait for each other.

    At head already, one connection and two queries, without Alembic (module docstring).
    """
    with engine.connect() as connection:
        at_head = is_at_head(connection)
        connection.rollback()
        if at_head:
            return
        _upgrade(connection)


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = alembic_config(connection.engine.url.render_as_string(hide_password=False))
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    try:
        connection.commit()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        connection.commit()
