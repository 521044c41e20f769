"""Session hardening: absolute and idle expiry, the last use written at most once a
minute, rotation at login, and a logout that ends the session and clears the cookie.

Time is moved by moving the session's timestamps in the database: no sleeping.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx
from sqlalchemy import Engine, text

from docmemo.auth.service import SESSION_TOUCH_INTERVAL_S, token_digest
from docmemo.db.models import Role
from tests.auth.conftest import http_client, running_app
from tests.helpers import login, make_user


def _session(engine: Engine, token: str, settings) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT xmin::text AS xmin, created_at, expires_at, last_seen_at, "
                "extract(epoch FROM now() - last_seen_at) AS seen_s_ago "
                "FROM sessions WHERE token_hash = :h"
            ),
            {"h": token_digest(token, settings.secret_key)},
        ).one_or_none()
    return row._asdict() if row else None


def _age_session(engine: Engine, token: str, settings, *, seen_s_ago: float) -> None:
    """Pretend the session was last used `seen_s_ago` seconds ago."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE sessions SET last_seen_at = now() - make_interval(secs => :s) "
                "WHERE token_hash = :h"
            ),
            {"s": seen_s_ago, "h": token_digest(token, settings.secret_key)},
        )


async def _reads_own_record(client: httpx.AsyncClient, name: str, token: str) -> int:
    response = await client.get(
        f"/get_user_by_name/{name}", headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code


async def test_a_session_idle_for_longer_than_the_limit_is_refused_everywhere(
    pool, client, sync_engine, settings
):
    user = await make_user(pool, Role.PATIENT)
    token = (await login(client, user.name)).json()["access_token"]
    _age_session(sync_engine, token, settings, seen_s_ago=settings.session_idle_s + 1)
    assert await _reads_own_record(client, user.name, token) == 401
    status = await client.get("/status", headers={"Authorization": f"Bearer {token}"})
    assert status.json()["authentication"]["logged_in"] is False


async def test_a_session_used_within_the_limit_lives_on_and_its_use_is_recorded(
    pool, client, sync_engine, settings
):
    user = await make_user(pool, Role.PATIENT)
    token = (await login(client, user.name)).json()["access_token"]
    _age_session(sync_engine, token, settings, seen_s_ago=settings.session_idle_s - 5)
    assert await _reads_own_record(client, user.name, token) == 200
    assert _session(sync_engine, token, settings)["seen_s_ago"] < 5


async def test_steady_use_keeps_a_session_alive_beyond_the_idle_limit(
    pool, client, sync_engine, settings
):
    user = await make_user(pool, Role.PATIENT)
    token = (await login(client, user.name)).json()["access_token"]
    # Three uses, each most of an idle period after the previous one: 2.7 idle periods.
    for _ in range(3):
        _age_session(sync_engine, token, settings, seen_s_ago=0.9 * settings.session_idle_s)
        assert await _reads_own_record(client, user.name, token) == 200


async def test_the_idle_limit_is_a_setting(pool, settings, sync_engine):
    user = await make_user(pool, Role.PATIENT)
    async with (
        running_app(settings, session_idle_s=300) as strict_app,
        http_client(strict_app) as http,
    ):
        token = (await login(http, user.name)).json()["access_token"]
        _age_session(sync_engine, token, settings, seen_s_ago=299)
        assert await _reads_own_record(http, user.name, token) == 200
        _age_session(sync_engine, token, settings, seen_s_ago=301)
        assert await _reads_own_record(http, user.name, token) == 401


async def test_a_recent_use_is_not_written_again(pool, client, sync_engine, settings):
    """Reading with a session is a write at most once a minute, not on every request."""
    user = await make_user(pool, Role.PATIENT)
    token = (await login(client, user.name)).json()["access_token"]
    before = _session(sync_engine, token, settings)
    for _ in range(3):
        assert await _reads_own_record(client, user.name, token) == 200
    after = _session(sync_engine, token, settings)
    assert after["xmin"] == before["xmin"]  # the row was not rewritten
    assert after["last_seen_at"] == before["last_seen_at"]

    _age_session(sync_engine, token, settings, seen_s_ago=SESSION_TOUCH_INTERVAL_S + 1)
    assert await _reads_own_record(client, user.name, token) == 200
    assert _session(sync_engine, token, settings)["seen_s_ago"] < SESSION_TOUCH_INTERVAL_S


async def test_activity_does_not_extend_the_absolute_lifetime(pool, client, sync_engine, settings):
    user = await make_user(pool, Role.PATIENT)
    token = (await login(client, user.name)).json()["access_token"]
    with sync_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE sessions SET expires_at = now() - interval '1 second', "
                "last_seen_at = now() WHERE token_hash = :h"
            ),
            {"h": token_digest(token, settings.secret_key)},
        )
    assert await _reads_own_record(client, user.name, token) == 401


async def test_the_absolute_lifetime_is_a_setting_and_the_cookie_follows_it(
    pool, settings, sync_engine
):
    user = await make_user(pool, Role.CAREGIVER)
    async with (
        running_app(settings, session_lifetime_s=600) as short_app,
        http_client(short_app) as http,
    ):
        response = await login(http, user.name)
    token = response.json()["access_token"]
    session = _session(sync_engine, token, settings)
    assert (session["expires_at"] - session["created_at"]).total_seconds() == 600
    cookie = SimpleCookie(response.headers["set-cookie"])["docmemo_session"]
    assert cookie["max-age"] == "600"


async def test_login_with_a_session_cookie_ends_that_session_on_the_server(
    pool, client, sync_engine, settings
):
    user = await make_user(pool, Role.PATIENT)
    old = (await login(client, user.name)).json()["access_token"]
    new = (await login(client, user.name)).json()["access_token"]  # the cookie goes along
    assert new != old
    assert _session(sync_engine, old, settings) is None
    assert _session(sync_engine, new, settings) is not None
    assert client.cookies["docmemo_session"] == new


async def test_login_with_a_bearer_token_ends_that_session_even_of_another_user(
    pool, app, sync_engine, settings
):
    first, second = await make_user(pool, Role.PATIENT), await make_user(pool, Role.CAREGIVER)
    async with http_client(app) as script:
        first_token = (await login(script, first.name)).json()["access_token"]
        script.cookies.clear()
        response = await script.post(
            "/login",
            data={"name": second.name, "password": "Correct-Horse-7"},
            headers={"Authorization": f"Bearer {first_token}"},
        )
        assert response.status_code == 200
        assert _session(sync_engine, first_token, settings) is None
        assert await _reads_own_record(script, first.name, first_token) == 401


async def test_other_devices_keep_their_sessions_at_login(pool, app, sync_engine, settings):
    user = await make_user(pool, Role.PATIENT)
    async with http_client(app) as phone, http_client(app) as laptop:
        phone_token = (await login(phone, user.name)).json()["access_token"]
        await login(laptop, user.name)
        assert await _reads_own_record(phone, user.name, phone_token) == 200


async def test_logout_ends_the_session_and_clears_the_cookie_with_its_attributes(
    pool, app, sync_engine, settings
):
    user = await make_user(pool, Role.PATIENT)
    # Away from localhost the cookie is Secure: clearing it must say so too.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://clinic.example") as http:
        logged_in = await login(http, user.name)
        token = logged_in.json()["access_token"]
        logged_out = await http.post("/logout")
        # The client dropped the cookie; one that kept the token gets nowhere with it.
        assert "docmemo_session" not in http.cookies
        assert await _reads_own_record(http, user.name, token) == 401
    assert logged_out.status_code == 200
    assert logged_out.json() == {"detail": "Logged out"}
    assert _session(sync_engine, token, settings) is None

    set_cookie = SimpleCookie(logged_in.headers["set-cookie"])["docmemo_session"]
    cleared = SimpleCookie(logged_out.headers["set-cookie"])["docmemo_session"]
    assert cleared.value == ""
    assert cleared["max-age"] == "0"
    for attribute in ("path", "domain", "samesite", "secure", "httponly"):
        assert cleared[attribute] == set_cookie[attribute], attribute
    assert set_cookie["secure"] and set_cookie["httponly"]


async def test_logout_with_a_bearer_token_ends_that_session(pool, app, sync_engine, settings):
    user = await make_user(pool, Role.PATIENT)
    async with http_client(app) as script:
        token = (await login(script, user.name)).json()["access_token"]
        script.cookies.clear()
        response = await script.post("/logout", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"detail": "Logged out"}
    assert _session(sync_engine, token, settings) is None
