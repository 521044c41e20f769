"""Two `docmemo seed --rebuild` processes at once: the second is refused, not
interleaved and not queued (issue 5, item 2).

The first rebuild is held in the middle of its transaction, deterministically: the
test keeps a share lock on ``users``, so the first process takes the rebuild lock
and then waits at its TRUNCATE. The second is started only once the first holds
the rebuild lock, and must exit at once with a one-line refusal while the first is
still running; then the first is let go and must leave its own registry, whole.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from docmemo.config import Settings
from docmemo.db.engine import sync_engine
from docmemo.db.migrate import upgrade_to_head
from docmemo.seeding.generator import generate_registry
from docmemo.seeding.service import ADVISORY_LOCK_KEY
from tests.processes import DOCMEMO, base_env, fresh_database, spawn, stop

FIRST_USERS, FIRST_SEED = 700, 11
SECOND_USERS, SECOND_SEED = 300, 12
WAIT_S = 60

# The rebuild lock as pg_locks shows a bigint advisory key: its two halves.
_REBUILD_LOCK_HELD = """
    SELECT count(*) FROM pg_locks
    WHERE locktype = 'advisory' AND granted
      AND ((classid::bigint << 32) | objid::bigint) = %(key)s
"""
_WAITING_FOR_USERS = """
    SELECT count(*) FROM pg_locks
    WHERE relation = 'users'::regclass AND NOT granted
"""


@pytest.fixture
def rebuild_database_url(database_url: str) -> str:
    """A migrated database of this test's own, beside the tests' database."""
    name = (make_url(database_url).database or "").removesuffix("_test") + "_rebuild_race_test"
    url = fresh_database(database_url, name)
    with sync_engine(Settings(_env_file=None, database_url=url)) as engine:
        upgrade_to_head(engine)
    return url


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _wait_for(
    conn: psycopg.Connection, query: str, params: dict, what: str, process: subprocess.Popen
) -> None:
    deadline = time.monotonic() + WAIT_S
    while conn.execute(query, params).fetchone()[0] == 0:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the first rebuild never got to {what}")
        time.sleep(0.05)


def test_a_second_rebuild_is_refused_while_the_first_runs(
    rebuild_database_url: str, tmp_path: Path
) -> None:
    env = base_env(DATABASE_URL=rebuild_database_url, COLUMNS="200")
    rebuild = [DOCMEMO, "seed", "--rebuild", "--users"]
    with psycopg.connect(_libpq(rebuild_database_url), autocommit=True) as observer:
        blocker = psycopg.connect(_libpq(rebuild_database_url))
        try:
            blocker.execute("LOCK TABLE users IN ACCESS SHARE MODE")
            first = spawn(
                [*rebuild, str(FIRST_USERS), "--seed", str(FIRST_SEED)],
                env=env,
                cwd=tmp_path,
                log=tmp_path / "first.log",
            )
            try:
                held = {"key": ADVISORY_LOCK_KEY}
                _wait_for(observer, _REBUILD_LOCK_HELD, held, "the rebuild lock", first)
                _wait_for(observer, _WAITING_FOR_USERS, {}, "its TRUNCATE", first)

                second = subprocess.run(
                    [*rebuild, str(SECOND_USERS), "--seed", str(SECOND_SEED)],
                    env=env,
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    timeout=WAIT_S,
                    check=False,
                )
                assert first.poll() is None, "the first rebuild was meant to be still running"
            finally:
                blocker.rollback()  # the first rebuild goes on
            first.wait(timeout=WAIT_S)
        finally:
            blocker.close()
            stop(first)

    output = second.stdout + second.stderr
    assert second.returncode == 1, output
    assert output.strip() == "Another rebuild of the registry is running; nothing was changed."
    first_output = (tmp_path / "first.log").read_text()
    assert first.returncode == 0, first_output
    assert f"Generated {FIRST_USERS} users" in first_output

    # The first rebuild's registry, whole: not the second's, not a mix.
    with psycopg.connect(_libpq(rebuild_database_url)) as conn:
        ids = {row[0] for row in conn.execute("SELECT user_id FROM users")}
        roles = conn.execute(
            "SELECT (SELECT count(*) FROM patients) + (SELECT count(*) FROM caregivers)"
            " + (SELECT count(*) FROM healthpros)"
        ).fetchone()[0]
    assert ids == set(generate_registry(FIRST_USERS, FIRST_SEED).user_ids)
    assert roles == FIRST_USERS
