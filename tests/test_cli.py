"""The docmemo command end to end: real processes, real HTTP, real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import make_url

from docmemo.cli import _browsable
from tests.processes import DEMO_PASSWORD, DOCMEMO, Server, base_env, fresh_database


@pytest.fixture
def cli_database_url(database_url: str) -> str:
    """A database of this module's own on the tests' server, fresh for each test, named
    after the tests' database (docmemo_test: docmemo_cli_test), so that two runs on
    differently named test databases do not share it."""
    tests_database = make_url(database_url).database or "docmemo_test"
    return fresh_database(database_url, tests_database.removesuffix("_test") + "_cli_test")


def sample_account(output: str, specialty: str) -> str:
    """The name printed in the accounts table on the line of this specialty."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if len(cells) == 3 and cells[2] == specialty:
            return cells[0]
    raise AssertionError(f"no {specialty} account printed:\n{output}")


def test_serve_seeds_once_serves_and_keeps_passwords_out_of_the_log(cli_database_url, tmp_path):
    env = base_env(DATABASE_URL=cli_database_url)
    server = Server(env, tmp_path)
    try:
        server.wait_ready()
        status = httpx.get(f"{server.url}/status").json()
        assert status["database"]["users"] == 400
        assert status["database"]["patients"] == 240
        # Where to point a browser, on the port it listens on.
        assert f"The web app: http://127.0.0.1:{server.port}/app" in server.output()
        neurologist = sample_account(server.output(), "neurologist")
        with httpx.Client(base_url=server.url) as http:
            login = http.get("/login", params={"name": neurologist, "password": DEMO_PASSWORD})
            assert login.status_code == 200
            assert http.get("/status").json()["authentication"]["specialty"] == "neurologist"
    finally:
        server.stop()
    access_lines = [line for line in server.output().splitlines() if "GET /login?" in line]
    assert access_lines  # the access log is on…
    assert all("password=[REDACTED]" in line for line in access_lines)  # …and redacted
    assert not any(DEMO_PASSWORD in line for line in access_lines)

    again = Server(env, tmp_path)
    try:
        again.wait_ready()
        assert httpx.get(f"{again.url}/status").json()["database"]["users"] == 400
    finally:
        again.stop()
    assert "Generated" not in again.output()


def run_docmemo(
    *args: str, env: dict[str, str], cwd: Path, expect_status: int = 0
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [DOCMEMO, *args],
        env={**env, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == expect_status, result.stdout + result.stderr
    return result


def test_seed_rebuild_and_migrate_commands(cli_database_url, tmp_path):
    env = base_env(DATABASE_URL=cli_database_url)
    run_docmemo("migrate", env=env, cwd=tmp_path)
    seeded = run_docmemo(
        "seed", "--users", "250", "--seed", "3", "--rebuild", env=env, cwd=tmp_path
    )
    for specialty in ("general", "psychologist", "neurologist"):
        sample_account(seeded.stdout, specialty)
    with psycopg.connect(cli_database_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (250,)
    assert "nothing done" in run_docmemo("seed", env=env, cwd=tmp_path).stdout


# `docmemo seed` run in-process by a fresh interpreter, which then lists what it imported.
_SEED_AND_LIST_IMPORTS = """
import sys
from docmemo.cli import _browsable
from docmemo.cli import app
app(["seed", "--rebuild", "--no-fit", "--users", "60", "--seed", "4"], standalone_mode=False)
heavy = ("alembic", "numpy", "pandas", "scipy", "statsmodels", "fastapi", "uvicorn")
print(sorted(name for name in heavy if name in sys.modules))
"""


def test_seeding_imports_alembic_only_to_migrate_and_never_the_fitting_libraries(
    cli_database_url, tmp_path
):
    """The seed command's fixed cost (docs/BENCHMARKS.md): Alembic is imported only when
    the schema is behind (at head, a query says so), the model-fitting stack only by
    the fit's own process, and the web stack not at all."""

    def seed_and_list_imports() -> str:
        result = subprocess.run(
            [sys.executable, "-c", _SEED_AND_LIST_IMPORTS],
            env={**base_env(DATABASE_URL=cli_database_url), "COLUMNS": "200"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert "Generated 60 users" in result.stdout
        return result.stdout.splitlines()[-1]

    assert seed_and_list_imports() == "['alembic']"  # a new database: migrated first
    assert seed_and_list_imports() == "[]"
    with psycopg.connect(cli_database_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (60,)


def test_serve_without_database_url_runs_the_embedded_server(tmp_path):
    from docmemo.db.embedded import EmbeddedPostgres

    data_dir = Path(f"/tmp/docmemo-cli-embedded-{os.getpid()}")
    embedded = EmbeddedPostgres(data_dir)
    env = base_env(DOCMEMO_DATA_DIR=str(data_dir), DOCMEMO_SEED_USERS="300")
    try:
        crashed = Server(env, tmp_path)
        try:
            crashed.wait_ready()
            assert httpx.get(f"{crashed.url}/status").json()["database"]["users"] == 300
        finally:
            crashed.stop(signal.SIGKILL)  # no chance to clean up
        assert (data_dir / "pgdata" / "PG_VERSION").exists()
        assert embedded.is_running()  # orphaned, as after any crash

        again = Server(env, tmp_path)
        try:
            again.wait_ready()
            assert httpx.get(f"{again.url}/status").json()["database"]["users"] == 300
        finally:
            again.stop(signal.SIGTERM)  # as a container runtime or systemd stops it
        assert again.process.returncode == 0
        assert "Generated" not in again.output()
        assert not embedded.is_running()  # the last live user stopped it
    finally:
        if embedded.is_running():
            embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_commands_wait_for_the_database_within_a_bound_then_explain(tmp_path):
    env = base_env(
        DATABASE_URL="postgresql://postgres@127.0.0.1:9/nothing_test", DOCMEMO_DB_WAIT_S="2"
    )
    for command in (["migrate"], ["seed"], ["serve", "--port", "9"]):
        result = run_docmemo(*command, env=env, cwd=tmp_path, expect_status=1)
        assert "Waiting for the database" in result.stdout
        assert "The database did not answer within 2 s" in result.stdout
        assert "Traceback" not in result.stdout + result.stderr


def test_production_refuses_a_placeholder_secret_key_in_one_line(tmp_path):
    env = base_env(DOCMEMO_ENVIRONMENT="production", DOCMEMO_SECRET_KEY="CHANGE-ME")
    result = run_docmemo("serve", env=env, cwd=tmp_path, expect_status=2)
    assert "Invalid configuration: DOCMEMO_SECRET_KEY must be set in production" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_server_on_every_address_is_browsed_as_localhost():
    assert _browsable("0.0.0.0") == "localhost"  # noqa: S104 - a name, not a bind
    assert _browsable("::") == "localhost"
    assert _browsable("127.0.0.1") == "127.0.0.1"
    assert _browsable("::1") == "[::1]"
