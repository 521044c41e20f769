"""Argon2id password hashing (OWASP minimum: m = 19 MiB, t = 2, p = 1)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

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


# Argon2 runs in a small pool of threads of its own, at a lower CPU priority:
# - each computation holds 19 MiB, and each thread that ever ran one keeps its
#   memory arena, so a burst of logins on the default pool (40 threads) left workers
#   at 500+ MB; two threads bound it to about 40 MB;
# - a burst of logins would otherwise take every core from the requests that only
#   read (a count takes a millisecond; a login 40 ms of a core, on purpose); at nice
#   10 the hashing threads get the cores the other requests leave.
MAX_CONCURRENT_HASHES = 2
HASHING_NICENESS = 10


def _lower_this_threads_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):  # Linux has per-thread nice values
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


_hashing_threads = ThreadPoolExecutor(
    max_workers=MAX_CONCURRENT_HASHES,
    thread_name_prefix="argon2",
    initializer=_lower_this_threads_priority,
)


async def verify_password_off_loop(password_hash: str, password: str) -> bool:
    """Argon2 is slow on purpose: run it in a hashing thread, never on the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_hashing_threads, verify_password, password_hash, password)


async def hash_password_off_loop(password: str) -> str:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_hashing_threads, hash_password, password)
