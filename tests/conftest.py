"""Test fixtures: a database of the tests' own, migrated from the migrations.

Which server: ``DOCMEMO_TEST_DATABASE_URL`` when set (its database is dropped and
re-created, so its name must end in ``_test``); otherwise the PostgreSQL on
127.0.0.1:5432 if one answers, database ``docmemo_test``; otherwise the embedded
server in ``.docmemo-test/``. Never the database a person uses.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, make_url, text

from docmemo.config import Settings
from docmemo.db.engine import sync_engine
from docmemo.db.migrate import upgrade_to_head
from docmemo.web.app import create_app

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/docmemo_test"
ALL_TABLES = (
    "users, patients, caregivers, healthpros, sessions, login_throttle, login_address_throttle"
)


def _local_server_answers() -> bool:
    try:
        psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=2
        ).close()
    except psycopg.OperationalError:
        return False
    return True


@contextmanager
def _test_server() -> Iterator[str]:
    """The URL of the tests' database, on the server chosen as the module says."""
    explicit = os.environ.get("DOCMEMO_TEST_DATABASE_URL")
    if explicit:
        yield explicit
        return
    if _local_server_answers():
        yield LOCAL_SERVER_URL
        return
    from docmemo.db.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(REPO_ROOT / ".docmemo-test")
    embedded.ensure_started()
    try:
        yield embedded.url.replace("/docmemo?", "/docmemo_test?")
    finally:
        embedded.release()


def recreate_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database or ""
    if not name.endswith("_test"):
        raise RuntimeError(f"refusing to drop {name!r}: a test database name must end in _test")
    admin = parsed.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'"
        )


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with _test_server() as url:
        recreate_database(url)
        with sync_engine(Settings(_env_file=None, database_url=url)) as engine:
            upgrade_to_head(engine)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        seed_on_start=False,
        cookie_secure=None,
        login_max_failures=5,
        login_lockout_base_s=30,
    )


@pytest.fixture(scope="session", name="sync_engine")
def sync_engine_fixture(settings: Settings) -> Iterator[Engine]:
    with sync_engine(settings) as engine:
        yield engine


def _truncate(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {ALL_TABLES} CASCADE"))
    return engine


@pytest.fixture
def clean_db(sync_engine: Engine) -> Engine:
    """An empty registry, for tests that check totals."""
    return _truncate(sync_engine)


@pytest.fixture(scope="module")
def clean_db_module(sync_engine: Engine) -> Engine:
    """An empty registry at the start of a module whose tests share its data."""
    return _truncate(sync_engine)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real app; it keeps cookies like a browser on localhost."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http


@pytest.fixture
def pool(app: FastAPI) -> AsyncConnectionPool:
    """The app's connection pool, for service functions that take one."""
    return app.state.pool


@pytest.fixture
async def db(app: FastAPI) -> AsyncIterator[AsyncConnection]:
    """A pooled connection of the app, for calling service functions directly."""
    async with app.state.pool.connection() as connection:
        yield connection
