"""The HTTP servers under test: ``docmemo serve`` as production runs it, and the
hello-world reference served the same way."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench import processes

REPO = Path(__file__).resolve().parents[1]
DOCMEMO = Path(sys.executable).with_name("docmemo")
WORKERS = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log_dir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes: the children of the supervisor (this process)."""
        return [pid for pid in _children(self.process.pid) if not _is_helper(pid)]

    def stop(self) -> None:
        processes.stop(self.process)
        # The access log grows by a line a request: do not keep it.
        (self.log_dir / f"{self.name}.access.log").unlink(missing_ok=True)


def production_environment(database_url: str, secret_key: str) -> dict[str, str]:
    """The settings of a production run (README, "Configuration")."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DOCMEMO_ENVIRONMENT="production",
        DOCMEMO_SECRET_KEY=secret_key,
        DOCMEMO_SEED_ON_START="false",
    )
    return env


def new_secret_key() -> str:
    return secrets.token_hex(32)


def start_docmemo(database_url: str, secret_key: str, log_dir: Path) -> Server:
    port = free_port()
    command = [
        str(DOCMEMO),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
    ]
    env = production_environment(database_url, secret_key)
    return _start("docmemo", command, env, port, log_dir, ready_path="/health/ready")


def start_hello(log_dir: Path) -> Server:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.hello",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return _start("hello", command, env, port, log_dir, ready_path="/hello")


def _start(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    log_dir: Path,
    ready_path: str,
    timeout_s: float = 90.0,
) -> Server:
    # uvicorn writes its access log on standard output, everything else on standard error.
    stdout = (log_dir / f"{name}.access.log").open("wb")
    stderr = (log_dir / f"{name}.log").open("ab")
    with stdout, stderr:
        process = subprocess.Popen(
            command,
            # Not the repository: a .env there would change the settings.
            cwd=log_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    server = Server(name, processes.track(process, own_group=True), port, log_dir)
    deadline = time.monotonic() + timeout_s
    url = server.base_url + ready_path
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited ({process.returncode}); see {log_dir / name}.log")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                # Both workers must be up: uvicorn's supervisor starts them one by one.
                if answer.status == 200 and len(server.worker_pids()) >= WORKERS:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} was not ready within {timeout_s:g} s")
        time.sleep(0.2)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc/*/stat; the kernel here has no
    /proc/<pid>/task/<tid>/children)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _is_helper(pid: int) -> bool:
    """multiprocessing's resource tracker is a child too, but not a worker."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"resource_tracker" in cmdline


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (resident at peak) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values
