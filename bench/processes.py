"""Every process the benchmark starts, so that all of them are stopped on the way out."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import TypeVar

P = TypeVar("P", bound=subprocess.Popen)

# Processes started here, and whether each leads a process group of its own.
_started: dict[subprocess.Popen, bool] = {}


def track(process: P, *, own_group: bool) -> P:
    """Remember a process to stop; ``own_group``: started with ``start_new_session=True``,
    so its children (uvicorn's workers) can be stopped with it."""
    _started[process] = own_group
    return process


def stop(process: subprocess.Popen, grace_s: float = 15.0) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it lingers; then whatever is left of
    its process group."""
    own_group = _started.pop(process, False)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=5)
    if own_group:
        _end_group(process.pid)


def _end_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            os.killpg(pgid, 0)  # ProcessLookupError once the group is empty
            time.sleep(0.1)
        os.killpg(pgid, signal.SIGKILL)


def stop_all() -> None:
    for process in reversed(list(_started)):
        stop(process, grace_s=10.0)
