"""Concurrent logins, logouts and uses of one account (issue 5, item 2): a session
is never usable once its logout has answered.

A session ends by the deletion of its row (auth.service.end_session), from a
logout or from a login that presents it (rotation); every authenticated request
looks the row up, and may refresh its last use in the same statement. Each round
below starts a session, then at once: its logout, a login presenting it (which
rotates it away), a fresh login of the same account, and uses of it spread around
the moment the logout answers. The app runs them on its pool's connections, so
the deletions, look-ups and last-use updates overlap in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from docmemo.auth.service import token_digest
from docmemo.config import Settings
from docmemo.db.models import Role
from tests.helpers import PASSWORD, make_user

ROUNDS = 20
USES_PER_ROUND = 8


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps no cookie: each request carries only the token it is given."""
    no_cookies = httpx.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost", cookies=no_cookies
    ) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def race_logout_against_uses_and_logins(
    http: httpx.AsyncClient,
    token: str,
    record: str,
    login: Callable[..., Awaitable[str]],
    delays: list[float],
) -> tuple[str, str]:
    """Log `token` out while it is used and while the account logs in twice (once
    presenting `token`); fail if a use sent after the logout answered is served.
    Returns the two new sessions."""
    logout_answered = asyncio.Event()

    async def logout() -> None:
        answer = await http.post("/logout", headers=bearer(token))
        assert answer.status_code == 200, answer.text
        logout_answered.set()

    async def use(delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        sent_after_logout = logout_answered.is_set()
        answer = await http.get(record, headers=bearer(token))
        assert answer.status_code in (200, 401), answer.text
        if sent_after_logout:
            assert answer.status_code == 401, "a session was used after its logout answered"

    _, rotated, fresh, *_ = await asyncio.gather(
        logout(), login(previous=token), login(), *(use(delay) for delay in delays)
    )
    return rotated, fresh


async def test_no_session_is_usable_after_its_logout_answers(
    http: httpx.AsyncClient, pool, sync_engine: Engine, settings: Settings
) -> None:
    user = await make_user(pool, Role.CAREGIVER)
    record = f"/get_user_by_name/{user.name}"
    credentials = {"name": user.name.upper(), "password": PASSWORD}
    rng = random.Random(5)

    async def login(previous: str | None = None) -> str:
        headers = bearer(previous) if previous else {}
        answer = await http.post("/login", data=credentials, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    for _ in range(ROUNDS):
        token = await login()
        # Make every use below also try to record the session's last use, an UPDATE of
        # the row the logout deletes (it is otherwise written once a minute at most).
        with sync_engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE sessions SET last_seen_at = now() - interval '10 minutes'"
                    " WHERE token_hash = :hash"
                ),
                {"hash": token_digest(token, settings.secret_key)},
            )
        delays = [rng.uniform(0, 0.03) for _ in range(USES_PER_ROUND)]
        rotated, fresh = await race_logout_against_uses_and_logins(
            http, token, record, login, delays
        )

        assert (await http.get(record, headers=bearer(token))).status_code == 401
        # Ending one session ends no other: the two logins of this round still work.
        for other in (rotated, fresh):
            assert (await http.get(record, headers=bearer(other))).status_code == 200
            assert (await http.post("/logout", headers=bearer(other))).status_code == 200
            assert (await http.get(record, headers=bearer(other))).status_code == 401

    with sync_engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM sessions WHERE user_id = :id"), {"id": user.user_id}
        ).scalar_one()
    assert left == 0
