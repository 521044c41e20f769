"""The database's ceiling: pgbench replaying the statements an endpoint runs.

Each captured request (see capture.py; a few of the mix, see MAX_SCRIPTS) becomes one
pgbench script file, its statements in order, each parameter a pgbench variable
defined with ``-D`` (sent as a bind parameter, as the service's driver does, under
``-M prepared``); a NULL parameter is written as NULL, since pgbench variables cannot
be NULL. pgbench picks one script at random per transaction. Without
``BEGIN``/``COMMIT``: each statement is its own transaction, one round trip, the
least any client can do.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path

from bench import processes
from bench.capture import Trace

PGBENCH = "pgbench"
# A few requests of the mix, not all: pgbench prepares each script's statements on each
# connection and plans them afresh for their first five executions, as PostgreSQL does
# for any prepared statement. With many scripts a 10 s run would measure little else,
# where the service's connections keep their prepared statements for good.
MAX_SCRIPTS = 8
# psycopg's placeholders: %(name)s or %s (or the binary/text forms %b, %t), and %%.
_PLACEHOLDER = re.compile(r"%%|%(?:\((\w+)\))?[sbt]")


@dataclass(frozen=True)
class PgbenchResult:
    transactions: int
    failed: int
    tps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    statements_per_transaction: float

    def as_dict(self) -> dict:
        return asdict(self)


def _value_text(value: object) -> str:
    # A batch statement's arrays of parameters, in PostgreSQL's array syntax.
    if isinstance(value, list | tuple):
        return "{" + ",".join(_array_element_text(element) for element in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _array_element_text(element: object) -> str:
    if element is None:
        return "NULL"
    if isinstance(element, list | tuple):
        return _value_text(element)
    text = _value_text(element).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def write_scripts(traces: list[Trace], folder: Path) -> tuple[list[Path], dict[str, str]]:
    """One script file per trace, and the ``-D`` variables they use."""
    variables: dict[str, str] = {}
    files = []
    for index, trace in enumerate(traces[:MAX_SCRIPTS]):
        lines = []
        for number, statement in enumerate(trace.statements):
            prefix = f"t{index}s{number}_"
            position = iter(range(len(statement.params)))

            def placeholder(
                match: re.Match[str],
                params: dict | list = statement.params,
                prefix: str = prefix,
                position: Iterator[int] = position,
            ) -> str:
                if match.group(0) == "%%":
                    return "%"
                if isinstance(params, dict):
                    name = match.group(1)
                    value = params.get(name)
                else:
                    name = str(next(position))
                    value = params[int(name)]
                if value is None:
                    return "NULL"
                variable = prefix + name
                variables[variable] = _value_text(value)
                return f":{variable}"

            text = _PLACEHOLDER.sub(placeholder, statement.sql)
            lines.append(text.strip().rstrip(";") + ";")
        path = folder / f"script-{index:03d}.sql"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(path)
    return files, variables


def _command(
    scripts: list[Path],
    variables: dict[str, str],
    clients: int,
    threads: int,
    duration_s: float,
    log_prefix: Path | None,
) -> list[str]:
    command = [
        PGBENCH,
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={clients}",
        f"--jobs={threads}",
        f"--time={max(1, round(duration_s))}",
    ]
    if log_prefix is not None:
        command += ["--log", f"--log-prefix={log_prefix}"]
    for script in scripts:
        command += ["--file", f"{script}@1"]
    for name, value in variables.items():
        command += ["--define", f"{name}={value}"]
    return command


def _run(command: list[str], env: dict[str, str], cwd: Path) -> str:
    process = processes.track(
        subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ),
        own_group=False,
    )
    stdout, stderr = process.communicate()
    processes.stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"pgbench failed ({process.returncode}): {stderr.strip()[-2000:]}")
    return stdout


def run_pgbench(
    traces: list[Trace],
    env: dict[str, str],
    clients: int,
    threads: int,
    duration_s: float,
    warm_up_s: float = 1.0,
) -> PgbenchResult:
    """``env``: the whole environment for pgbench, PG* variables included."""
    with tempfile.TemporaryDirectory(prefix="docmemo-pgbench-") as tmp:
        folder = Path(tmp)
        scripts, variables = write_scripts(traces, folder)
        if warm_up_s > 0:
            _run(_command(scripts, variables, clients, threads, warm_up_s, None), env, folder)
        log_prefix = folder / "txn"
        stdout = _run(
            _command(scripts, variables, clients, threads, duration_s, log_prefix), env, folder
        )
        latencies_us = []
        for log in folder.glob("txn.*"):
            for line in log.read_text().splitlines():
                fields = line.split()
                # client_id transaction_no time script_no time_epoch time_us [...]
                if len(fields) >= 6 and fields[2].isdigit():
                    latencies_us.append(int(fields[2]))
    tps = float(re.search(r"tps = ([\d.]+) \(without initial", stdout).group(1))
    failed_match = re.search(r"number of failed transactions: (\d+)", stdout)
    processed = int(re.search(r"number of transactions actually processed: (\d+)", stdout).group(1))
    latencies_us.sort()
    used = traces[: len(scripts)]
    return PgbenchResult(
        transactions=processed,
        failed=int(failed_match.group(1)) if failed_match else 0,
        tps=tps,
        p50_ms=_percentile(latencies_us, 50) / 1000,
        p99_ms=_percentile(latencies_us, 99) / 1000,
        mean_ms=statistics.fmean(latencies_us) / 1000 if latencies_us else 0.0,
        statements_per_transaction=statistics.fmean(len(t.statements) for t in used),
    )


def _percentile(sorted_values: list[int], p: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return float(sorted_values[index])
