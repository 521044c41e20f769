"""Benchmark Docteur Memo on this machine and print one table.

    .venv/bin/python bench/run.py [--quick] [--duration S] [--connections C]
                                  [--sizes 10000,1000000] [--seed-only 2000000]

For each registry size: a fresh ``docmemo_bench_<users>`` database (on DATABASE_URL's
server, else on the embedded one), seeded and timed with ``docmemo seed --rebuild``;
the hello-world reference and ``docmemo serve`` (production settings, 2 workers)
driven by wrk, each row with the same threads, connections and duration; a burst
of logins beside /count_over; the API workers' memory; then pgbench replaying the
SQL each endpoint runs. Results: a table here, JSON in bench/results/. What each
figure means: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Annotated

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import typer
from rich.console import Console

from bench import database, probes, processes, report, servers
from bench.capture import capture_statements
from bench.pgbench import MAX_SCRIPTS, run_pgbench
from bench.wrk import Load, Request, WrkResult, finish_wrk, run_wrk, start_wrk, write_requests

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SEED = 2024
# Every generated user's password in the benchmark databases (demonstration only).
BENCH_PASSWORD = "memo-bench-2026"
MIX_SIZE = 512  # requests in each cycled mix
LOGIN_ACCOUNTS = 256  # distinct accounts in the login mix: no account sees two logins at once
HELLO = ("hello", "hello_after")  # the reference rows; the ratios use their mean
LOGIN_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}

console = Console()
if not console.is_terminal:
    console = Console(width=160)


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    session: bool = False  # sent with the neurologist's session cookie
    pgbench: bool = True  # replay its SQL with pgbench


ENDPOINTS = (
    Endpoint("count_over", "/count_over/{mmse}"),
    Endpoint("count_over_ages", "/count_over/{mmse}?min_age&max_age"),
    Endpoint("count_under", "/count_under/{mmse}"),
    Endpoint("count_under_ages", "/count_under/{mmse}?min_age&max_age"),
    Endpoint("status", "/status"),
    Endpoint("get_user_by_name", "/get_user_by_name/{name} (session)", session=True),
    Endpoint("predict_patient", "/predict_patient/{name} (neurologist)", session=True),
    Endpoint("login", "POST /login (Argon2id)", pgbench=False),
)


def request_mixes(patients: list[str], accounts: list[str]) -> dict[str, list[Request]]:
    """What each row sends, cycled by wrk (and replayed by pgbench): fixed by a seed."""
    rng = random.Random(SEED)
    password = BENCH_PASSWORD

    def counts(comparison: str, ages: bool) -> list[Request]:
        mix = []
        for _ in range(MIX_SIZE):
            path = f"/count_{comparison}/{rng.randint(0, 30)}"
            if ages:
                youngest = rng.randint(25, 80)
                path += f"?min_age={youngest}&max_age={youngest + rng.randint(5, 30)}"
            mix.append(Request("GET", path))
        return mix

    def by_name(prefix: str) -> list[Request]:
        return [Request("GET", prefix + urllib.parse.quote(name, safe="")) for name in patients]

    return {
        "hello": [Request("GET", "/hello")],
        "count_over": counts("over", ages=False),
        "count_over_ages": counts("over", ages=True),
        "count_under": counts("under", ages=False),
        "count_under_ages": counts("under", ages=True),
        "status": [Request("GET", "/status")],
        "get_user_by_name": by_name("/get_user_by_name/"),
        "predict_patient": by_name("/predict_patient/"),
        "login": [
            Request("POST", "/login", urllib.parse.urlencode({"name": n, "password": password}))
            for n in accounts
        ],
    }


def log_in(base_url: str, name: str) -> str:
    body = urllib.parse.urlencode({"name": name, "password": BENCH_PASSWORD}).encode()
    with urllib.request.urlopen(f"{base_url}/login", data=body, timeout=30) as answer:
        return json.loads(answer.read())["access_token"]


def check_answers(base_url: str, mix: list[Request], headers: dict[str, str]) -> None:
    """The first requests of a mix answer 200 (wrk would only count the failures)."""
    for request in mix[:3]:
        data = request.body.encode() if request.body else None
        call = urllib.request.Request(base_url + request.path, data=data, headers=headers)
        with urllib.request.urlopen(call, timeout=30) as answer:
            if answer.status != 200:
                raise RuntimeError(f"{request.method} {request.path}: {answer.status}")


def wrk_row(endpoint: Endpoint, result: WrkResult) -> dict:
    return {"key": endpoint.key, "label": endpoint.label, "wrk": result.as_dict()}


def _write(mix: list[Request], workdir: Path) -> Path:
    return write_requests(mix, workdir)


def run_phase(
    server: database.PgServer,
    users: int,
    load: Load,
    workdir: Path,
    only: set[str] | None,
    reuse: bool,
) -> dict:
    name = database.database_name(users)
    url = server.database_url(name)
    log_file = workdir / f"{name}.log"
    phase: dict = {"users": users, "database": name, "rows": []}

    # 1. Seeding, timed (the schema is migrated first: only seeding is timed).
    if reuse and database.user_count(server, name) == users:
        console.print(f"[bold]{users:,} users[/]: reusing {name}")
    else:
        console.print(f"[bold]{users:,} users[/]: seeding {name}…")
        database.create_database(server, name)
        database.migrate(url, log_file)
        seeding = database.seed(url, users, SEED, log_file, BENCH_PASSWORD)
        phase["seeding"] = seeding.as_dict()
        phase["database_size_mib"] = database.size_mib(server, name)
        console.print(
            f"  seeded in {seeding.wall_s:.1f} s (peak RSS {seeding.peak_rss_mib:.0f} MiB)"
        )
    phase["generator"] = probes.generator_memory(users, SEED)
    console.print(f"  generator alone: peak {phase['generator']['peak_mib']:.0f} MiB")

    patients = database.sample_names(server, name, "SELECT name FROM patients", MIX_SIZE)
    accounts = database.sample_names(server, name, "SELECT name FROM users", LOGIN_ACCOUNTS)
    neurologist = database.sample_names(
        server, name, "SELECT name FROM healthpros WHERE specialty = 'neurologist'", 1
    )[0]
    mixes = request_mixes(patients, accounts)
    selected = [e for e in ENDPOINTS if only is None or e.key in only]

    # The progression model /predict_patient serves, fitted (and timed) before the API
    # starts; then the prediction service's own time, without HTTP.
    phase["fit_model"] = fit = database.fit_model(url, log_file)
    console.print(f"  docmemo fit-model: {fit['wall_s']:.1f} s, peak {fit['peak_rss_mib']:.0f} MiB")
    phase["prediction"] = prediction = probes.prediction_time(server.conninfo(name), patients)
    console.print(
        f"  predict_for_patient: p50 {prediction['p50_ms']:.2f} ms, "
        f"p99 {prediction['p99_ms']:.2f} ms ({prediction['model_version']})"
    )

    phase["settle_s"] = settle_s = database.settle(server, name)
    console.print(f"  VACUUM (ANALYZE) and CHECKPOINT: {settle_s:.1f} s")

    # 2. The framework's ceiling, just before the service (and again just after: on a
    # shared machine the two tell how much the ground moved), under the same load.
    phase["rows"].append(measure_hello("hello", "before", mixes, load, workdir))

    # 3. The service as production runs it.
    secret_key = servers.new_secret_key()
    api = servers.start_docmemo(url, secret_key, workdir)
    try:
        token = log_in(api.base_url, neurologist)
        session = {"Cookie": f"docmemo_session={token}"}
        traces = {}
        settings = _capture_settings(url, secret_key)
        for endpoint in (e for e in selected if e.key != "login"):
            headers = session if endpoint.session else {}
            check_answers(api.base_url, mixes[endpoint.key], headers)
            if endpoint.pgbench:
                traces[endpoint.key] = capture(settings, mixes[endpoint.key], headers)
            result = run_wrk(api.base_url, _write(mixes[endpoint.key], workdir), load, headers)
            phase["rows"].append(wrk_row(endpoint, result))
            _print_row(endpoint, result)
        if any(e.key == "login" for e in selected):
            endpoint = next(e for e in ENDPOINTS if e.key == "login")
            check_answers(api.base_url, mixes["login"], LOGIN_HEADERS)
            # Before the first Argon2 computation, to see what logins add.
            phase["worker_memory_before_logins"] = worker_memory(api)
            phase["login_burst"] = burst = login_burst(api.base_url, mixes, load, workdir)
            console.print(
                f"  /count_over p99 {burst['count_p99_without_ms']:.1f} ms without, "
                f"{burst['count_p99_with_ms']:.1f} ms with a login burst "
                f"({burst['logins_per_s']:.1f} logins/s)"
            )
            drain(api.base_url)
            # No warm-up: Argon2 needs none, and the warm-up's unfinished logins would
            # still be computed during the measurement.
            result = run_wrk(
                api.base_url, _write(mixes["login"], workdir), load, LOGIN_HEADERS, warm_up_s=0
            )
            phase["rows"].append(wrk_row(endpoint, result))
            _print_row(endpoint, result)
        phase["worker_memory"] = worker_memory(api)
    finally:
        api.stop()
    phase["rows"].append(measure_hello("hello_after", "after", mixes, load, workdir))
    hello_rps = statistics.fmean(r["wrk"]["rps"] for r in phase["rows"] if r["key"] in HELLO)
    phase["hello_rps"] = hello_rps

    # 4. The database's ceiling: the same statements, straight from pgbench.
    env = {**os.environ, **server.libpq_environment(name)}
    for row in phase["rows"]:
        if row["key"] in traces:
            result = run_pgbench(
                traces[row["key"]], env, load.connections, load.threads, load.duration_s
            )
            row["pgbench"] = result.as_dict()
            console.print(f"  pgbench {row['label']}: {result.tps:,.0f} tps")
    for row in phase["rows"]:
        rps = row["wrk"]["rps"]
        row["pct_of_hello"] = rps / hello_rps * 100
        if row.get("pgbench") and row["pgbench"]["tps"]:
            row["pct_of_pgbench"] = rps / row["pgbench"]["tps"] * 100
    return phase


def measure_hello(key: str, when: str, mixes: dict, load: Load, workdir: Path) -> dict:
    hello = servers.start_hello(workdir)
    try:
        result = run_wrk(hello.base_url, _write(mixes["hello"], workdir), load)
    finally:
        hello.stop()
    console.print(f"  hello world ({when}): {result.rps:,.0f} req/s")
    return {"key": key, "label": f"hello world (FastAPI), {when}", "wrk": result.as_dict()}


def worker_memory(api: servers.Server) -> list[dict]:
    return [{"pid": pid, **servers.memory_kib(pid)} for pid in api.worker_pids()]


def capture(settings, mix: list[Request], headers: dict[str, str]) -> list:
    """The statements each of the first requests of a mix runs (for pgbench)."""
    distinct = list(dict.fromkeys((r.method, r.path) for r in mix))[:MAX_SCRIPTS]
    traces = capture_statements(settings, distinct, headers)
    if bad := [t for t in traces if t.status != 200]:
        raise RuntimeError(f"{bad[0].method} {bad[0].path} answered {bad[0].status}")
    if empty := [t for t in traces if not t.statements]:
        raise RuntimeError(f"no SQL recorded for {empty[0].method} {empty[0].path}")
    return traces


def _print_row(endpoint: Endpoint, result: WrkResult) -> None:
    flag = f" [red]{result.errors} errors[/]" if result.errors else ""
    console.print(
        f"  {endpoint.label}: {result.rps:,.1f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms{flag}"
    )


def drain(base_url: str, timeout_s: float = 30.0) -> None:
    """Wait for the logins wrk abandoned at its end to be computed: until the liveness
    probe answers quickly three times in a row."""
    deadline = time.monotonic() + timeout_s
    quick = 0
    while quick < 3 and time.monotonic() < deadline:
        started = time.perf_counter()
        with urllib.request.urlopen(f"{base_url}/health/live", timeout=30):
            pass
        quick = quick + 1 if time.perf_counter() - started < 0.02 else 0
        time.sleep(0.2)


def login_burst(base_url: str, mixes: dict, load: Load, workdir: Path) -> dict:
    """/count_over's p99 without, then during, a burst of concurrent logins."""
    count_file = _write(mixes["count_over"], workdir)
    without = run_wrk(base_url, count_file, load)
    logins = start_wrk(
        base_url,
        _write(mixes["login"], workdir),
        Load(load.duration_s + 2, load.connections, threads=1),
        LOGIN_HEADERS,
    )
    try:
        time.sleep(1)  # the burst is in full swing before /count_over is measured
        with_burst = run_wrk(base_url, count_file, load, warm_up_s=0)
    finally:
        login_result = finish_wrk(logins)
    return {
        "login_connections": load.connections,
        "count_p99_without_ms": without.p99_ms,
        "count_p99_with_ms": with_burst.p99_ms,
        "p99_ratio": with_burst.p99_ms / without.p99_ms,
        "count_without": without.as_dict(),
        "count_with": with_burst.as_dict(),
        "logins": login_result.as_dict(),
        "logins_per_s": login_result.rps,
        "login_errors": login_result.errors,
    }


def _capture_settings(url: str, secret_key: str):
    from docmemo.config import Settings

    return Settings(
        _env_file=None,
        DATABASE_URL=url,
        environment="production",
        secret_key=secret_key,
        seed_on_start=False,
    )


def seed_only_phase(server: database.PgServer, users: int, workdir: Path) -> dict:
    name = database.database_name(users)
    url = server.database_url(name)
    log_file = workdir / f"{name}.log"
    console.print(f"[bold]{users:,} users[/] (seeding only): seeding {name}…")
    database.create_database(server, name)
    database.migrate(url, log_file)
    seeding = database.seed(url, users, SEED, log_file, BENCH_PASSWORD)
    console.print(f"  seeded in {seeding.wall_s:.1f} s")
    return {
        "users": users,
        "database": name,
        "rows": [],
        "seeding": seeding.as_dict(),
        "database_size_mib": database.size_mib(server, name),
        "generator": probes.generator_memory(users, SEED),
    }


def machine(server: database.PgServer) -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    meminfo = Path("/proc/meminfo").read_text().split()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    pgbench_version = subprocess.run(
        ["pgbench", "--version"], capture_output=True, text=True, check=False
    )
    git = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
        cwd=servers.REPO,
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": server.version(),
        "database_server": server.description,
        "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0],
        "pgbench": pgbench_version.stdout.strip(),
        "packages": {
            p: version(p) for p in ("fastapi", "starlette", "uvicorn", "sqlalchemy", "psycopg")
        },
        "git": git.stdout.strip() or "unknown (not a git checkout)",
        "load_average_at_start": os.getloadavg(),
    }


def latency_ratios(phases: list[dict]) -> dict:
    """Latency of each count row at 1,000,000 users over the same row at 10,000."""
    small = report._phase({"phases": phases}, report.SMALL)
    large = report._phase({"phases": phases}, report.LARGE)
    ratios = {}
    for key in report.COUNT_ROWS:
        a, b = report._row(small, key), report._row(large, key)
        if a and b:
            ratios[b["label"]] = {
                "p50": b["wrk"]["p50_ms"] / a["wrk"]["p50_ms"],
                "p99": b["wrk"]["p99_ms"] / a["wrk"]["p99_ms"],
            }
    return ratios


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(
    quick: Annotated[bool, typer.Option(help="3 s a row instead of 10 (a smoke test)")] = False,
    duration: Annotated[
        float | None, typer.Option(help="Seconds of load a row [default: 10, --quick 3]")
    ] = None,
    connections: Annotated[int, typer.Option(help="wrk connections and pgbench clients")] = 32,
    sizes: Annotated[str, typer.Option(help="Registry sizes to benchmark")] = "10000,1000000",
    seed_only: Annotated[
        str, typer.Option(help="Sizes only seeded and timed (e.g. 2000000, to extrapolate)")
    ] = "",
    only: Annotated[
        str | None,
        typer.Option(help="Only these rows, e.g. count_over,status (keys: see ENDPOINTS)"),
    ] = None,
    reuse: Annotated[
        bool, typer.Option(help="Keep a database that already holds its users (no seeding)")
    ] = False,
    keep_databases: Annotated[
        bool, typer.Option(help="Leave the docmemo_bench_* databases at the end")
    ] = False,
    embedded_dir: Annotated[
        Path, typer.Option(help="Data folder of the embedded PostgreSQL (no DATABASE_URL)")
    ] = database.DEFAULT_EMBEDDED_DIR,
) -> None:
    """Benchmark every endpoint against its two ceilings; print one table."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    load = Load(duration_s=duration or (3.0 if quick else 10.0), connections=connections)
    only_keys = {key.strip() for key in only.split(",")} if only else None
    started = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="docmemo-bench-"))
    console.print(f"Logs and scratch files: {workdir}")
    results: dict = {
        "started_at": started.isoformat(timespec="seconds"),
        "settings": {
            "duration_s": load.duration_s,
            "connections": load.connections,
            "threads": load.threads,
            "workers": servers.WORKERS,
            "seed": SEED,
        },
        "phases": [],
    }
    created: list[str] = []
    try:
        with database.pg_server(embedded_dir) as server:
            try:
                results["machine"] = machine(server)
                console.print("Argon2id verification rate…")
                rate_s = 2.0 if quick else 5.0
                results["argon2_verifications_per_s"] = {
                    "1": probes.argon2_rate(1, rate_s),
                    "2": probes.argon2_rate(2, rate_s),
                }
                for users in _sizes(sizes):
                    created.append(database.database_name(users))
                    results["phases"].append(
                        run_phase(server, users, load, workdir, only_keys, reuse)
                    )
                for users in _sizes(seed_only):
                    created.append(database.database_name(users))
                    results["phases"].append(seed_only_phase(server, users, workdir))
            finally:
                processes.stop_all()
                if not keep_databases:
                    for name in created:
                        database.drop_database(server, name)
    except KeyboardInterrupt:
        console.print("[red]Interrupted[/]: every process started here was stopped.")
        raise typer.Exit(130) from None
    finally:
        processes.stop_all()
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["large_vs_small_latency"] = latency_ratios(results["phases"])
    results["targets"] = report.check_targets(results)
    RESULTS_DIR.mkdir(exist_ok=True)
    output = RESULTS_DIR / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report.print_report(results, console)
    console.print(f"Results: {output}")


if __name__ == "__main__":
    typer.run(main)
