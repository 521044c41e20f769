"""The PostgreSQL server of the benchmark and its ``docmemo_bench_<users>`` databases.

``DATABASE_URL`` set: that server (databases created through its ``postgres``
maintenance database). Unset: the embedded server of ``docmemo`` (the one
``./scripts/serve`` runs), with its data in a folder of its own.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from bench import processes
from bench.servers import DOCMEMO

DATABASE_PREFIX = "docmemo_bench_"
DEFAULT_EMBEDDED_DIR = Path(tempfile.gettempdir()) / "docmemo-bench"


@dataclass(frozen=True)
class PgServer:
    """A PostgreSQL server: the URL of its maintenance database, and what it is."""

    url: URL  # postgresql+psycopg://…/postgres
    description: str

    def database_url(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    def conninfo(self, database: str) -> str:
        """The libpq connection string of a database (for psycopg)."""
        url = self.url.set(drivername="postgresql", database=database)
        return url.render_as_string(hide_password=False)

    def libpq_environment(self, database: str) -> dict[str, str]:
        """PG* variables that point pgbench (a libpq client) at a database."""
        url = self.url
        env = {"PGDATABASE": database}
        host = url.host or url.query.get("host")
        if isinstance(host, tuple):
            host = host[0]
        if host:
            env["PGHOST"] = str(host)
        if url.port:
            env["PGPORT"] = str(url.port)
        if url.username:
            env["PGUSER"] = url.username
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        return env

    def version(self) -> str:
        with psycopg.connect(self.conninfo("postgres")) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])


@contextmanager
def pg_server(embedded_dir: Path) -> Iterator[PgServer]:
    """``DATABASE_URL``'s server, or the embedded one (started here, released at the end)."""
    if url := os.environ.get("DATABASE_URL"):
        parsed = make_url(url).set(drivername="postgresql+psycopg", database="postgres")
        yield PgServer(parsed, f"DATABASE_URL ({parsed.host or 'socket'}:{parsed.port or 5432})")
        return
    from docmemo.db.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(embedded_dir)
    url = embedded.ensure_started()
    try:
        yield PgServer(make_url(url).set(database="postgres"), f"embedded ({embedded.pgdata})")
    finally:
        embedded.release()


def database_name(users: int) -> str:
    return f"{DATABASE_PREFIX}{users}"


_DROP = "DROP DATABASE IF EXISTS {} WITH (FORCE)"


def create_database(server: PgServer, name: str) -> None:
    """A fresh database (dropped first if it exists). Only docmemo_bench_* names."""
    assert re.fullmatch(rf"{DATABASE_PREFIX}\d+", name), name
    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL(_DROP).format(sql.Identifier(name)))
        # The schema needs a locale that folds every Unicode letter (its first migration checks).
        conn.execute(
            sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'"
            ).format(sql.Identifier(name))
        )


def drop_database(server: PgServer, name: str) -> None:
    assert re.fullmatch(rf"{DATABASE_PREFIX}\d+", name), name
    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL(_DROP).format(sql.Identifier(name)))


def user_count(server: PgServer, name: str) -> int | None:
    """Users in a database, or None if it (or its schema) does not exist."""
    try:
        with psycopg.connect(server.conninfo(name)) as conn:
            return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])
    except psycopg.Error:
        return None


def size_mib(server: PgServer, name: str) -> float:
    """The database's size on disk (tables, indexes, TOAST), MiB."""
    with psycopg.connect(server.conninfo(name)) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return size / 1024 / 1024


def settle(server: PgServer, name: str) -> float:
    """VACUUM (ANALYZE) the database, then CHECKPOINT; the seconds it took. A registry
    just loaded in bulk is not one in service: autovacuum's first pass over millions
    of new rows and the checkpoint of their pages would otherwise run during the first
    rows measured (in one run, /count_over at 1,000,000 users lost a fifth of its
    throughput and doubled its p99 while the rows after it did not)."""
    started = time.monotonic()
    with psycopg.connect(server.conninfo(name), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        # CHECKPOINT needs a superuser or pg_checkpoint; without either, the vacuum alone.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")
    return time.monotonic() - started


def _docmemo_environment(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url}


def migrate(database_url: str, log_file: Path) -> None:
    with log_file.open("ab") as log:
        subprocess.run(
            [str(DOCMEMO), "migrate"],
            cwd=log_file.parent,  # not the repository: its .env, if any, stays out
            env=_docmemo_environment(database_url),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            check=True,
        )


@dataclass(frozen=True)
class SeedTiming:
    users: int
    wall_s: float  # the whole `docmemo seed --rebuild` command, start to exit
    reported_s: float | None  # what the command says it took ("Generated N users in X s")
    peak_rss_mib: float  # the seeding process's peak resident memory

    def as_dict(self) -> dict:
        return {
            "users": self.users,
            "wall_s": self.wall_s,
            "reported_s": self.reported_s,
            "peak_rss_mib": self.peak_rss_mib,
        }


def seed(
    database_url: str, users: int, seed_value: int, log_file: Path, password: str
) -> SeedTiming:
    """Time ``docmemo seed --rebuild --no-fit --users N --seed S`` end to end (schema
    migrated beforehand, and the progression model fitted afterwards by ``fit_model``,
    so that only seeding is timed)."""
    command = [
        str(DOCMEMO),
        "seed",
        "--rebuild",
        "--no-fit",
        "--users",
        str(users),
        "--seed",
        str(seed_value),
    ]
    env = _docmemo_environment(database_url)
    env["DOCMEMO_DEMO_PASSWORD"] = password
    env["COLUMNS"] = "200"  # one line per message in the captured output
    with log_file.open("ab") as log:
        started = time.perf_counter()
        process = processes.track(
            subprocess.Popen(
                command,
                cwd=log_file.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            ),
            own_group=False,
        )
        stdout = process.stdout.read() if process.stdout else b""
        # wait4 rather than wait: it also gives the child's resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        processes.stop(process)
        log.write(stdout)
    if process.returncode != 0:
        raise RuntimeError(f"docmemo seed failed ({process.returncode}); see {log_file}")
    text = stdout.decode(errors="replace")
    match = re.search(r"Generated [\d,]+ users in ([\d.]+) s", text)
    return SeedTiming(
        users=users,
        wall_s=wall_s,
        reported_s=float(match.group(1)) if match else None,
        peak_rss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
    )


def fit_model(database_url: str, log_file: Path) -> dict:
    """Time ``docmemo fit-model`` (a sample of 3,000 patients, whatever the registry's
    size): wall seconds and the command's peak resident memory."""
    with log_file.open("ab") as log:
        started = time.perf_counter()
        process = processes.track(
            subprocess.Popen(
                [str(DOCMEMO), "fit-model"],
                cwd=log_file.parent,
                env={**_docmemo_environment(database_url), "COLUMNS": "200"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            ),
            own_group=False,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        processes.stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"docmemo fit-model failed ({process.returncode}); see {log_file}")
    return {"wall_s": wall_s, "peak_rss_mib": usage.ru_maxrss / 1024}


def sample_names(server: PgServer, database: str, query: str, limit: int) -> list[str]:
    """Names for the request mixes, drawn reproducibly."""
    with psycopg.connect(server.conninfo(database)) as conn:
        conn.execute("SELECT setseed(0.2024)")
        rows = conn.execute(query + " ORDER BY random() LIMIT %s", (limit,)).fetchall()
    return [row[0] for row in rows]
