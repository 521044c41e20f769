"""The probes: liveness never asks the database; readiness asks it, quickly."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import make_url

from docmemo.config import Settings
from docmemo.db.migrate import head_revision
from tests.helpers import app_client


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


async def test_readiness_fails_on_a_database_without_this_versions_schema(database_url):
    # The server's maintenance database answers but was never migrated.
    unmigrated = make_url(database_url).set(database="postgres")
    settings = Settings(_env_file=None, database_url=unmigrated.render_as_string(False))
    async with app_client(settings) as http:
        ready = await http.get("/health/ready")
        assert (await http.get("/health/live")).status_code == 200
    assert ready.status_code == 503
    assert ready.json()["detail"] == (
        f"The database schema is at revision none, this version needs {head_revision()}; "
        "run `docmemo migrate`"
    )
