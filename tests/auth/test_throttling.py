"""Repeated failures are refused with 429, per account, across API processes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

from docmemo.db.models import Role
from docmemo.web.app import create_app
from tests.helpers import PASSWORD, make_user


@pytest.fixture(autouse=True)
def _forget_failures(sync_engine):
    yield
    with sync_engine.begin() as conn:
        conn.execute(text("DELETE FROM login_throttle"))


async def _fail(client: httpx.AsyncClient, name: str) -> httpx.Response:
    return await client.post("/login", data={"name": name, "password": "wrong password"})


async def test_repeated_failures_lock_the_account_with_retry_after(pool, client, db, settings):
    user = await make_user(pool, Role.PATIENT)
    for _ in range(settings.login_max_failures - 1):
        assert (await _fail(client, user.name)).status_code == 401
    # The failure that reaches the limit is still answered 401; the next try is refused.
    assert (await _fail(client, user.name)).status_code == 401
    refused = await client.post("/login", data={"name": user.name, "password": PASSWORD})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= settings.login_lockout_base_s
    assert "detail" in refused.json()
    assert "set-cookie" not in refused.headers


async def test_a_locked_account_does_not_lock_out_others(pool, client, db, settings):
    victim, bystander = await make_user(pool, Role.PATIENT), await make_user(pool, Role.PATIENT)
    for _ in range(settings.login_max_failures + 1):
        await _fail(client, victim.name)
    ok = await client.post("/login", data={"name": bystander.name, "password": PASSWORD})
    assert ok.status_code == 200


async def test_unknown_names_are_throttled_like_real_ones(client, settings):
    for _ in range(settings.login_max_failures):
        await _fail(client, "Nobody Known")
    assert (await _fail(client, "nobody known")).status_code == 429


async def test_lock_is_shared_by_another_api_process(pool, client, db, settings):
    user = await make_user(pool, Role.CAREGIVER)
    for _ in range(settings.login_max_failures):
        await _fail(client, user.name)
    other_replica = create_app(settings)  # shares nothing in memory with `client`'s app
    async with other_replica.router.lifespan_context(other_replica):
        transport = httpx.ASGITransport(app=other_replica)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            response = await http.post("/login", data={"name": user.name, "password": PASSWORD})
    assert response.status_code == 429


async def test_lockout_doubles_and_is_capped(pool, client, db, settings, sync_engine):
    user = await make_user(pool, Role.PATIENT)
    key = user.name.lower()

    def locked_seconds() -> float:
        with sync_engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT extract(epoch FROM locked_until - last_failure_at) "
                    "FROM login_throttle WHERE account_key = :k"
                ),
                {"k": key},
            ).scalar_one()

    def unlock() -> None:
        with sync_engine.begin() as conn:
            conn.execute(
                text("UPDATE login_throttle SET locked_until = now() WHERE account_key = :k"),
                {"k": key},
            )

    for _ in range(settings.login_max_failures):
        await _fail(client, user.name)
    durations = [locked_seconds()]
    for _ in range(8):
        unlock()
        assert (await _fail(client, user.name)).status_code == 401
        durations.append(locked_seconds())
    assert durations[:3] == pytest.approx(
        [settings.login_lockout_base_s * 2**i for i in range(3)], abs=0.01
    )
    assert max(durations) == pytest.approx(settings.login_lockout_max_s, abs=0.01)


async def test_success_clears_the_failure_count(pool, client, db, settings):
    user = await make_user(pool, Role.PATIENT)
    for _ in range(settings.login_max_failures - 1):
        await _fail(client, user.name)
    ok = await client.post("/login", data={"name": user.name, "password": PASSWORD})
    assert ok.status_code == 200
    for _ in range(settings.login_max_failures - 1):
        assert (await _fail(client, user.name)).status_code == 401


async def test_concurrent_guesses_get_no_more_tries_than_serial_ones(pool, client, db, settings):
    user = await make_user(pool, Role.PATIENT)
    responses = await asyncio.gather(*(_fail(client, user.name) for _ in range(20)))
    codes = [response.status_code for response in responses]
    assert codes.count(401) == settings.login_max_failures
    assert codes.count(429) == 20 - settings.login_max_failures


async def test_attempts_during_a_lock_neither_count_nor_extend_it(
    pool, client, settings, sync_engine
):
    user = await make_user(pool, Role.PATIENT)
    key = user.name.lower()

    def lock_state() -> tuple:
        with sync_engine.connect() as conn:
            return tuple(
                conn.execute(
                    text(
                        "SELECT failures, last_failure_at, locked_until "
                        "FROM login_throttle WHERE account_key = :k"
                    ),
                    {"k": key},
                ).one()
            )

    for _ in range(settings.login_max_failures):
        await _fail(client, user.name)
    locked = lock_state()
    for _ in range(10):
        assert (await _fail(client, user.name)).status_code == 429
    assert lock_state() == locked


async def test_the_owner_gets_back_in_once_even_the_longest_lock_has_passed(
    pool, client, settings, sync_engine
):
    """Hammering an account keeps it locked for at most the cap after the last
    failure that was counted; then its owner logs in."""
    user = await make_user(pool, Role.PATIENT)
    key = user.name.lower()
    for _ in range(settings.login_max_failures + 12):  # 30 s doubled 12 times: past the cap
        await _fail(client, user.name)
        with sync_engine.begin() as conn:  # each lock over at once, so each failure counts
            conn.execute(
                text("UPDATE login_throttle SET locked_until = now() WHERE account_key = :k"),
                {"k": key},
            )
    await _fail(client, user.name)
    with sync_engine.begin() as conn:
        lock_s = conn.execute(
            text(
                "SELECT extract(epoch FROM locked_until - now()) FROM login_throttle "
                "WHERE account_key = :k"
            ),
            {"k": key},
        ).scalar_one()
        assert 0 < lock_s <= settings.login_lockout_max_s
        # The cap has passed.
        conn.execute(
            text(
                "UPDATE login_throttle SET locked_until = locked_until - make_interval(secs => :s),"
                " last_failure_at = last_failure_at - make_interval(secs => :s) "
                "WHERE account_key = :k"
            ),
            {"k": key, "s": settings.login_lockout_max_s},
        )
    ok = await client.post("/login", data={"name": user.name, "password": PASSWORD})
    assert ok.status_code == 200
