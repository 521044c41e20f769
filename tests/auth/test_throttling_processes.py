"""Both login limits hold across two `docmemo serve` processes on one database: a
failure counted by one process counts in the other.

Clients are told apart as behind a proxy: requests come from 127.0.0.1 (which
uvicorn trusts by default, FORWARDED_ALLOW_IPS) with an X-Forwarded-For address.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import psycopg
import pytest

from docmemo.config import Settings
from docmemo.db.engine import conninfo
from tests.processes import DEMO_PASSWORD, Server, base_env, fresh_database

ACCOUNT_LIMIT = 3
ADDRESS_LIMIT = 4


@pytest.fixture(scope="module")
def servers(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[str], list[str]]]:
    """Two API processes on one fresh database; their URLs, and two account names."""
    url = fresh_database(database_url, "docmemo_sessions_procs_test")
    cwd = tmp_path_factory.mktemp("throttling")
    env = base_env(
        DATABASE_URL=url,
        DOCMEMO_SEED_USERS="20",
        DOCMEMO_LOGIN_MAX_FAILURES=str(ACCOUNT_LIMIT),
        DOCMEMO_LOGIN_ADDRESS_MAX_FAILURES=str(ADDRESS_LIMIT),
        DOCMEMO_ACCESS_LOG="false",
    )
    with ExitStack() as cleanup:
        started = []
        for _ in range(2):
            server = Server(env, cwd, "--workers", "1")
            cleanup.callback(server.stop)
            started.append(server)
        for server in started:
            server.wait_ready()
        with psycopg.connect(conninfo(Settings(_env_file=None, database_url=url))) as db:
            names = [row[0] for row in db.execute("SELECT name FROM users ORDER BY name LIMIT 2")]
        yield [server.url for server in started], names


def _login(base_url: str, name: str, password: str, address: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/login",
        data={"name": name, "password": password},
        headers={"X-Forwarded-For": address},
        timeout=30,
    )


def test_an_account_locked_through_one_process_is_locked_in_the_other(servers):
    urls, (victim, _) = servers
    alternating = itertools.cycle(urls)
    # Each guess from another address: a lock that holds whatever the address.
    for attempt in range(ACCOUNT_LIMIT):
        answer = _login(next(alternating), victim, "wrong", f"203.0.113.{attempt + 1}")
        assert answer.status_code == 401
    for url in urls:
        refused = _login(url, victim, DEMO_PASSWORD, "203.0.113.100")
        assert refused.status_code == 429
        assert "account" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1


def test_an_address_over_its_limit_in_one_process_is_refused_by_the_other(servers):
    urls, (_, bystander) = servers
    alternating = itertools.cycle(urls)
    for _ in range(ADDRESS_LIMIT):
        answer = _login(next(alternating), f"Nobody {uuid.uuid4().hex}", "x", "198.51.100.77")
        assert answer.status_code == 401
    for url in urls:
        refused = _login(url, bystander, DEMO_PASSWORD, "198.51.100.77")
        assert refused.status_code == 429
        assert "address" in refused.json()["detail"]
        # Another client of the same servers logs in.
        assert _login(url, bystander, DEMO_PASSWORD, "198.51.100.78").status_code == 200
