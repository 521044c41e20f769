"""Measurements outside HTTP: Argon2 verifications per second, the generator's memory."""

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
