"""Real processes for end-to-end tests: free ports, `docmemo serve`, dedicated databases.

Every process started here writes its output to a log file and is stopped by its
owner in a ``finally``; as a last resort (the test run itself killed) the kernel
sends it SIGTERM when the test process dies, so none outlives the run.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
from sqlalchemy import make_url

from tests.conftest import recreate_database

DOCMEMO = str(Path(sys.executable).parent / "docmemo")
DEMO_PASSWORD = "memo-demo-2026"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_database(database_url: str, name: str) -> str:
    """The URL of a new, empty database `name` (ending in _test) on the tests' server,
    dropped first if it exists."""
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    recreate_database(url)
    return url


def base_env(**overrides: str) -> dict[str, str]:
    """This environment without any docmemo setting, a small registry, then `overrides`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DOCMEMO_") and key != "DATABASE_URL"
    }
    return {**env, "DOCMEMO_SEED_USERS": "400", "DOCMEMO_SEED": "7", **overrides}


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the test process dies (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: Sequence[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start `args` with stdout and stderr going to `log`."""
    with log.open("w") as output:
        return subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # called before any test thread starts
        )


def stop(process: subprocess.Popen, signum: int = signal.SIGINT, timeout_s: float = 30) -> None:
    """Send `signum` (if it still runs) and wait; SIGKILL if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_answers(
    process: subprocess.Popen, url: str, output: Callable[[], str], timeout_s: float
) -> None:
    """Wait until `url` answers 200; fail with the process's `output()` if it exits or
    does not answer in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited early:\n{output()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in time:\n{output()}")


class Server:
    """`docmemo serve` on a free loopback port, its output in `cwd`/serve-<port>.log."""

    def __init__(
        self, env: dict[str, str], cwd: Path, *args: str, docmemo: str | Path = DOCMEMO
    ) -> None:
        self.port = free_port()
        self.log = cwd / f"serve-{self.port}.log"
        self.process = spawn(
            [str(docmemo), "serve", "--port", str(self.port), *args],
            env={**env, "COLUMNS": "200"},
            cwd=cwd,
            log=self.log,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 120) -> None:
        wait_until_answers(self.process, f"{self.url}/status", self.output, timeout_s)

    def stop(self, signum: int = signal.SIGINT) -> None:
        stop(self.process, signum)

    def output(self) -> str:
        return self.log.read_text()
