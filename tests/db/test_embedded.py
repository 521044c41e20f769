"""The embedded default database: starts, keeps its data, survives a crash."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from docmemo.db.embedded import EmbeddedPostgres


@pytest.fixture
def data_dir():
    # Not under a private home: as root the server runs as another user, who must reach it.
    path = Path(f"/tmp/docmemo-embedded-test-{os.getpid()}")
    yield path
    server = EmbeddedPostgres(path)
    if server.is_running():
        server.stop()
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _libpq(server: EmbeddedPostgres) -> str:
    return server.url.replace("postgresql+psycopg://", "postgresql://")


def _postmaster_pid(server: EmbeddedPostgres) -> int:
    return int((server.pgdata / "postmaster.pid").read_text().splitlines()[0])


def test_data_survives_a_restart(data_dir):
    server = EmbeddedPostgres(data_dir)
    server.ensure_started()
    assert server.started_here
    with psycopg.connect(_libpq(server), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")
        assert conn.execute("SELECT lower('ÉLODIE')").fetchone()[0] == "élodie"
    server.stop()
    assert not server.is_running()

    again = EmbeddedPostgres(data_dir)
    again.ensure_started()
    with psycopg.connect(_libpq(again)) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (42,)


def test_a_running_server_is_reused_and_stopped_by_its_last_live_user(data_dir):
    first = EmbeddedPostgres(data_dir)
    first.ensure_started()
    second = EmbeddedPostgres(data_dir)
    second.ensure_started()
    assert not second.started_here
    assert second.url == first.url
    # Another process that uses it and is alive (this test's parent, pytest's runner
    # or the shell: any live pid other than ours).
    (data_dir / "clients" / str(os.getppid())).touch()
    second.release()
    assert first.is_running()
    (data_dir / "clients" / str(os.getppid())).unlink()
    # A user that died without letting go (SIGKILL) does not keep it up.
    (data_dir / "clients" / "999999999").touch()
    first.release()
    assert not first.is_running()


def test_it_starts_again_after_the_server_was_killed(data_dir):
    server = EmbeddedPostgres(data_dir)
    server.ensure_started()
    with psycopg.connect(_libpq(server), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (7)")
    pid = _postmaster_pid(server)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    # postmaster.pid is left behind, naming a dead process.
    assert (server.pgdata / "postmaster.pid").exists()

    recovered = EmbeddedPostgres(data_dir)
    recovered.ensure_started()
    assert recovered.started_here
    with psycopg.connect(_libpq(recovered)) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (7,)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_as_root_it_runs_under_a_folder_only_others_may_pass_through(data_dir):
    # Like a clone under /root (drwx------): root's group may not enter, others may
    # only pass through. The server's commands must not keep root's group.
    private = data_dir.parent / f"{data_dir.name}-private"
    private.mkdir(mode=0o700)
    try:
        server = EmbeddedPostgres(private / "data")
        server.ensure_started()
        assert server.is_running()
        assert oct(private.stat().st_mode & 0o777) == "0o701"
        server.release()
        assert not server.is_running()
    finally:
        import shutil

        shutil.rmtree(private, ignore_errors=True)
