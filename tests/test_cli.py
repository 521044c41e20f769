"""The docmemo command end to end: real processes, real HTTP, real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import make_url

DOCMEMO = str(Path(sys.executable).parent / "docmemo")
DEMO_PASSWORD = "memo-demo-2026"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cli_database_url(database_url: str) -> str:
    """A database of this module's own on the tests' server, fresh for each test."""
    url = make_url(database_url).set(database="docmemo_cli_test")
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS docmemo_cli_test WITH (FORCE)")
        conn.execute(
            "CREATE DATABASE docmemo_cli_test TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'"
        )
    return url.render_as_string(hide_password=False)


def base_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DOCMEMO_") and key != "DATABASE_URL"
    }
    return {**env, "DOCMEMO_SEED_USERS": "400", "DOCMEMO_SEED": "7", **overrides}


class Server:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.log = cwd / f"serve-{self.port}.log"
        self.process = subprocess.Popen(
            [DOCMEMO, "serve", "--port", str(self.port)],
            env={**env, "COLUMNS": "200"},
            cwd=cwd,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/status", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve did not answer in time:\n{self.output()}")

    def stop(self, signum: int = signal.SIGINT) -> None:
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def output(self) -> str:
        return self.log.read_text()


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


def run_docmemo(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [DOCMEMO, *args],
        env={**env, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
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
        assert "Generated" not in again.output()
        assert not embedded.is_running()  # the last live user stopped it
    finally:
        if embedded.is_running():
            embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
