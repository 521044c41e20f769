"""Argon2id off the event loop, a bounded number at a time."""

from __future__ import annotations

import asyncio
import os
import threading

from docmemo.auth import passwords


async def test_concurrent_verifications_are_bounded_and_all_answered(monkeypatch):
    password_hash = passwords.hash_password("right")
    running = 0
    most_at_once = 0
    lock = threading.Lock()
    real_verify = passwords.verify_password

    def counting_verify(stored: str, password: str) -> bool:
        nonlocal running, most_at_once
        with lock:
            running += 1
            most_at_once = max(most_at_once, running)
        try:
            return real_verify(stored, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(passwords, "verify_password", counting_verify)
    attempts = ["right", "wrong"] * (2 * passwords.MAX_CONCURRENT_HASHES)
    results = await asyncio.gather(
        *(passwords.verify_password_off_loop(password_hash, attempt) for attempt in attempts)
    )
    assert results == [attempt == "right" for attempt in attempts]
    assert most_at_once == passwords.MAX_CONCURRENT_HASHES


async def test_hashing_threads_run_at_a_lower_priority():
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(passwords._hashing_threads, niceness) == (
        niceness() + passwords.HASHING_NICENESS
    )


async def test_hashing_off_the_loop_gives_a_verifiable_argon2id_hash():
    password_hash = await passwords.hash_password_off_loop("s3cret")
    assert password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await passwords.verify_password_off_loop(password_hash, "s3cret")
    assert not await passwords.verify_password_off_loop(password_hash, "S3cret")
