"""Argon2id password hashing (OWASP minimum: m = 19 MiB, t = 2, p = 1)."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

MAX_PASSWORD_LENGTH = 1024  # Argon2 accepts any length; a bound keeps requests cheap.


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash to verify against for unknown names, so that they cost the same time."""
    return hash_password("no such user: equal-time comparison only")


# Each Argon2 computation holds 19 MiB: at most this many at once per process, so a
# burst of logins waits its turn instead of growing memory past a container's limit
# (the thread pool alone would run 40). More than the cores would not finish sooner.
MAX_CONCURRENT_HASHES = max(2, os.cpu_count() or 2)
_hashing_slots = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)


def _verify_in_slot(password_hash: str, password: str) -> bool:
    with _hashing_slots:
        return verify_password(password_hash, password)


def _hash_in_slot(password: str) -> str:
    with _hashing_slots:
        return hash_password(password)


async def verify_password_off_loop(password_hash: str, password: str) -> bool:
    """Argon2 is slow on purpose: run it in a worker thread, never on the event loop."""
    return await anyio.to_thread.run_sync(_verify_in_slot, password_hash, password)


async def hash_password_off_loop(password: str) -> str:
    return await anyio.to_thread.run_sync(_hash_in_slot, password)
