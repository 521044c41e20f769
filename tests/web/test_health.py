"""The probes: liveness never asks the database; readiness asks it, quickly."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import make_url

from docmemo.config import Settings
from docmemo.db.migrate import head_revision, known_revisions
from tests.helpers import app_client
from tests.processes import fresh_database


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and then never says a word, like a server
    that hangs: only a timeout ends a wait on it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


async def test_liveness_and_readiness_with_the_database_up(client):
    live = await client.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    ready = await client.get("/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_with_the_database_refusing_connections_only_liveness_passes():
    unreachable = Settings(
        _env_file=None,
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/docmemo_test",
        db_connect_timeout_s=1,
    )
    async with app_client(unreachable) as http:
        assert (await http.get("/health/live")).status_code == 200
        ready = await http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {"detail": "The database is unavailable; try again shortly"}


async def test_readiness_answers_within_its_bound_when_the_database_hangs(silent_port):
    hanging = Settings(
        _env_file=None,
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{silent_port}/docmemo_test",
        db_connect_timeout_s=30,
    )
    async with app_client(hanging) as http:
        started = time.monotonic()
        ready = await http.get("/health/ready")
        elapsed_s = time.monotonic() - started
        assert (await http.get("/health/live")).status_code == 200
    assert ready.status_code == 503
    assert elapsed_s < 3


@pytest.fixture(scope="module")
def versioned_database(database_url) -> tuple[Settings, Callable[[str | None], None]]:
    """Settings of an empty database of its own, and a function that sets the schema
    revision it claims to be at (None: never migrated)."""
    url = fresh_database(database_url, "docmemo_health_test")

    def claim_revision(revision: str | None) -> None:
        with psycopg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(False)
        ) as conn:
            conn.execute("DROP TABLE IF EXISTS alembic_version")
            if revision is not None:
                conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
                conn.execute("INSERT INTO alembic_version VALUES (%s)", (revision,))

    return Settings(_env_file=None, database_url=url), claim_revision


@pytest.mark.parametrize(
    ("revision", "ready"),
    [
        (head_revision(), True),
        # A newer version's schema, during a rolling update: the old pods keep serving.
        ("9999_a_newer_version", True),
        (None, False),
        (min(known_revisions() - {head_revision()}), False),
    ],
)
async def test_readiness_follows_the_schema_revision(versioned_database, revision, ready):
    settings, claim_revision = versioned_database
    claim_revision(revision)
    async with app_client(settings) as http:
        answer = await http.get("/health/ready")
        assert (await http.get("/health/live")).status_code == 200
    if ready:
        assert (answer.status_code, answer.json()) == (200, {"status": "ready"})
    else:
        assert answer.status_code == 503
        assert answer.json()["detail"] == (
            f"The database schema is at revision {revision or 'none'}, "
            f"this version needs {head_revision()}; run `docmemo migrate`"
        )
