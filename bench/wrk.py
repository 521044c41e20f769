"""Running wrk with bench/lua/requests.lua and reading its JSON summary."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import processes

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "requests.lua"
WRK = "wrk"
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # already percent-encoded
    body: str = ""  # application/x-www-form-urlencoded, for POST

    def line(self) -> str:
        return f"{self.method}\t{self.path}\t{self.body}"


@dataclass(frozen=True)
class Load:
    """One wrk run: the same threads, connections and duration for every row."""

    duration_s: float
    connections: int
    threads: int = 2
    timeout_s: float = 10.0


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    def as_dict(self) -> dict:
        return asdict(self)


def write_requests(requests: list[Request], folder: Path) -> Path:
    with tempfile.NamedTemporaryFile(
        "w", dir=folder, prefix="requests-", suffix=".txt", delete=False, encoding="utf-8"
    ) as file:
        file.write("".join(request.line() + "\n" for request in requests))
    return Path(file.name)


def start_wrk(
    base_url: str,
    requests_file: Path,
    load: Load,
    headers: dict[str, str] | None = None,
    duration_s: float | None = None,
) -> subprocess.Popen[str]:
    """Start wrk in the background (``finish_wrk`` reads its result)."""
    seconds = duration_s if duration_s is not None else load.duration_s
    command = [
        WRK,
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={max(1, round(seconds))}s",
        f"--timeout={load.timeout_s:g}s",
        f"--script={LUA_SCRIPT}",
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    command += [base_url, "--", str(requests_file)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return processes.track(process, own_group=False)


def finish_wrk(process: subprocess.Popen[str]) -> WrkResult:
    stdout, stderr = process.communicate()
    processes.stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {stderr.strip() or stdout}")
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise RuntimeError(f"wrk printed no summary: {stdout}\n{stderr}")
    data = json.loads(lines[-1][len(MARKER) :])
    latency = data["latency_us"]
    errors = data["errors"]
    duration_s = data["duration_us"] / 1e6
    return WrkResult(
        requests=data["requests"],
        duration_s=duration_s,
        rps=data["requests"] / duration_s if duration_s else 0.0,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        mean_ms=latency["mean"] / 1000,
        max_ms=latency["max"] / 1000,
        non_2xx=errors["status"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
    )


def run_wrk(
    base_url: str,
    requests_file: Path,
    load: Load,
    headers: dict[str, str] | None = None,
    warm_up_s: float = 1.0,
) -> WrkResult:
    """A warm-up run (discarded), then the measured one."""
    if warm_up_s > 0:
        finish_wrk(start_wrk(base_url, requests_file, load, headers, duration_s=warm_up_s))
    return finish_wrk(start_wrk(base_url, requests_file, load, headers))
