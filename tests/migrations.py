"""Helpers for the tests of one migration: a database of its own at the revision
before it, and moving that database up or down."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from sqlalchemy import Engine

from docmemo.config import Settings
from docmemo.db.engine import sync_engine
from docmemo.db.migrate import alembic_config
from tests.processes import fresh_database


@contextmanager
def database_at(database_url: str, name: str, revision: str) -> Iterator[Engine]:
    """A new database ``name`` on the tests' server, migrated up to ``revision``."""
    url = fresh_database(database_url, name)
    with sync_engine(Settings(_env_file=None, database_url=url)) as engine:
        command.upgrade(alembic_config(url), revision)
        yield engine


def migrate(engine: Engine, revision: str, downgrade: bool = False) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    (command.downgrade if downgrade else command.upgrade)(config, revision)
