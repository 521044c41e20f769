"""Schema migrations (Alembic), safe when several processes start together."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

import docmemo

# Any constant shared by every migrator; pg_advisory_lock serialises them.
_MIGRATION_LOCK_KEY = 0x646F636D656D6F  # "docmemo"


def migrations_dir() -> Path:
    package_dir = Path(docmemo.__file__).parent
    bundled = package_dir / "_migrations"  # inside a built wheel
    return bundled if bundled.is_dir() else package_dir.parents[1] / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def known_revisions() -> frozenset[str]:
    """Every revision this version's migrations know, old and newest."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    return frozenset(script.revision for script in scripts.walk_revisions())


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Migrate to the newest revision; concurrent callers wait for each other."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        try:
            connection.commit()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
            connection.commit()
