"""Measurements outside HTTP: Argon2 verifications per second, the generator's memory,
the prediction service's own time."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from bench import processes


def argon2_rate(threads: int, duration_s: float) -> float:
    """Verifications per second of ``docmemo.auth.passwords.verify_password`` (the
    service's parameters) in ``threads`` threads; argon2-cffi releases the GIL."""
    from docmemo.auth.passwords import hash_password, verify_password

    password = "bench-password"
    password_hash = hash_password(password)
    assert verify_password(password_hash, password)
    counts = [0] * threads
    stop_at = time.perf_counter() + duration_s

    def work(slot: int) -> None:
        while time.perf_counter() < stop_at:
            verify_password(password_hash, password)
            counts[slot] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


_GENERATOR_PROBE = """
import json, resource, sys, time
from pathlib import Path
def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
from docmemo.seeding.generator import generate_registry
baseline = hwm()
started = time.perf_counter()
registry = generate_registry(int(sys.argv[1]), int(sys.argv[2]))
elapsed = time.perf_counter() - started
print(json.dumps({"users": registry.counts.total, "seconds": elapsed,
                  "baseline_kib": baseline, "peak_kib": hwm(),
                  "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def generator_memory(users: int, seed: int) -> dict:
    """``generate_registry(users)`` alone, in a fresh interpreter: its time and peak
    resident memory (VmHWM), with the interpreter's baseline after imports."""
    process = processes.track(
        subprocess.Popen(
            [sys.executable, "-c", _GENERATOR_PROBE, str(users), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        own_group=False,
    )
    stdout, stderr = process.communicate()
    processes.stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"generator probe failed: {stderr.strip()[-2000:]}")
    data = json.loads(stdout.strip().splitlines()[-1])
    return {
        "users": data["users"],
        "seconds": data["seconds"],
        "baseline_mib": data["baseline_kib"] / 1024,
        "peak_mib": data["peak_kib"] / 1024,
    }


_PREDICTION_PROBE = """
import asyncio, json, statistics, sys, time
import psycopg
from psycopg.rows import namedtuple_row
from docmemo.prediction.service import predict_for_patient
names = json.loads(sys.stdin.read())
async def main():
    conn = await psycopg.AsyncConnection.connect(
        sys.argv[1], autocommit=True, row_factory=namedtuple_row)
    async with conn:
        # As a neurologist would ask (each prediction is audited in its transaction).
        row = await (await conn.execute(
            "SELECT user_id FROM healthpros WHERE specialty = 'neurologist' LIMIT 1")).fetchone()
        ask = dict(predictor_id=row.user_id, address="127.0.0.1")
        for name in names[:50]:  # warm-up: prepared statements, the model's cache
            await predict_for_patient(conn, name, 12, **ask)
        times, visits, version = [], [], None
        for name in names:
            started = time.perf_counter()
            _, forecast = await predict_for_patient(conn, name, 12, **ask)
            times.append((time.perf_counter() - started) * 1000)
            visits.append(forecast.visits_used)
            version = forecast.model_version
    times.sort()
    heavy = sorted(m for m in ("numpy", "pandas", "scipy", "statsmodels") if m in sys.modules)
    print(json.dumps({"calls": len(times), "p50_ms": statistics.median(times),
                      "p99_ms": times[int(len(times) * 0.99) - 1], "max_ms": times[-1],
                      "mean_visits": statistics.fmean(visits), "model_version": version,
                      "heavy_modules": heavy}))
asyncio.run(main())
"""


def prediction_time(conninfo: str, patient_names: list[str]) -> dict:
    """``prediction.service.predict_for_patient`` called once per patient, in a fresh
    interpreter on one connection (as a worker does, without HTTP): its own time, all
    of it (the queries, the audit row and the model), median and 99th percentile, and
    which heavy libraries the worker's imports pulled in (none expected)."""
    process = processes.track(
        subprocess.Popen(
            [sys.executable, "-c", _PREDICTION_PROBE, conninfo],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        own_group=False,
    )
    stdout, stderr = process.communicate(json.dumps(patient_names))
    processes.stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"prediction probe failed: {stderr.strip()[-2000:]}")
    return json.loads(stdout.strip().splitlines()[-1])
