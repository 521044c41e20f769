"""The per-address limit: failed logins from one client address (an IPv6 /64) per
fixed window, then 429 until the window ends, whichever accounts they tried."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import Engine, text

from docmemo.auth.service import UNKNOWN_ADDRESS, address_key
from docmemo.db.models import Role
from tests.auth.conftest import http_client, running_app
from tests.helpers import PASSWORD, make_user, unique_name

LIMIT = 3
WINDOW_S = 600


@pytest.fixture(autouse=True)
def _forget_account_failures(sync_engine: Engine):
    yield
    with sync_engine.begin() as conn:
        conn.execute(text("DELETE FROM login_throttle"))


@pytest.fixture
async def strict_app(settings):
    """An API process whose address limit is small enough to reach in a test."""
    async with running_app(
        settings, login_address_max_failures=LIMIT, login_address_window_s=WINDOW_S
    ) as app:
        yield app


async def _fail(http: httpx.AsyncClient) -> httpx.Response:
    """A failed login on a name of its own: no account gets near its own limit."""
    return await http.post("/login", data={"name": unique_name("Guess"), "password": "nope"})


async def _log_in(http: httpx.AsyncClient, name: str) -> httpx.Response:
    return await http.post("/login", data={"name": name, "password": PASSWORD})


async def test_beyond_the_limit_an_address_gets_429_even_with_the_right_password(
    pool, strict_app, sync_engine
):
    user = await make_user(pool, Role.PATIENT)
    async with http_client(strict_app, "198.51.100.20") as attacker:
        for _ in range(LIMIT):
            assert (await _fail(attacker)).status_code == 401
        refused = await _log_in(attacker, user.name)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= WINDOW_S
    assert refused.json() == {"detail": "Too many failed logins from this address; try again later"}
    assert "set-cookie" not in refused.headers
    # Another address is not affected, and the account itself is not locked.
    async with http_client(strict_app, "198.51.100.21") as neighbour:
        assert (await _log_in(neighbour, user.name)).status_code == 200

    # Once the window has ended, the address may try again.
    with sync_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE login_address_throttle SET window_started_at = "
                "window_started_at - make_interval(secs => :s) WHERE address = '198.51.100.20'"
            ),
            {"s": WINDOW_S},
        )
    async with http_client(strict_app, "198.51.100.20") as attacker:
        assert (await _log_in(attacker, user.name)).status_code == 200


async def test_successful_logins_do_not_count(pool, strict_app):
    users = [await make_user(pool, Role.CAREGIVER) for _ in range(LIMIT + 2)]
    async with http_client(strict_app, "198.51.100.30") as clinic:
        for user in users:
            assert (await _log_in(clinic, user.name)).status_code == 200
        for _ in range(LIMIT):
            assert (await _fail(clinic)).status_code == 401


async def test_a_success_does_not_reset_the_count(pool, strict_app):
    user = await make_user(pool, Role.CAREGIVER)
    async with http_client(strict_app, "198.51.100.40") as attacker:
        for _ in range(LIMIT - 1):
            assert (await _fail(attacker)).status_code == 401
        assert (await _log_in(attacker, user.name)).status_code == 200
        assert (await _fail(attacker)).status_code == 401
        assert (await _fail(attacker)).status_code == 429


async def test_an_ipv6_network_counts_as_one_address(strict_app):
    same_64 = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2:abcd::"]
    for address in same_64:
        async with http_client(strict_app, address) as http:
            assert (await _fail(http)).status_code == 401
    async with http_client(strict_app, "2001:db8:1:2::77") as http:
        assert (await _fail(http)).status_code == 429
    async with http_client(strict_app, "2001:db8:1:3::1") as http:
        assert (await _fail(http)).status_code == 401


def test_address_keys():
    assert address_key("203.0.113.9") == "203.0.113.9"
    assert address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_key("[2001:db8::1]") == "2001:db8::/64"
    assert address_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert address_key(None) == address_key("") == address_key("testclient") == UNKNOWN_ADDRESS


async def test_concurrent_failures_get_no_more_tries_than_serial_ones(strict_app):
    async with http_client(strict_app, "198.51.100.50") as attacker:
        answers = await asyncio.gather(*(_fail(attacker) for _ in range(12)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [401] * LIMIT + [429] * (12 - LIMIT)


async def test_the_limit_is_shared_by_another_api_process(settings, strict_app):
    async with running_app(
        settings, login_address_max_failures=LIMIT, login_address_window_s=WINDOW_S
    ) as other_process:
        for attempt in range(LIMIT):
            app = strict_app if attempt % 2 == 0 else other_process
            async with http_client(app, "198.51.100.60") as http:
                assert (await _fail(http)).status_code == 401
        for app in (strict_app, other_process):
            async with http_client(app, "198.51.100.60") as http:
                assert (await _fail(http)).status_code == 429
