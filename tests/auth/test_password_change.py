"""POST /change_password: the current password first, then every session ends."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, text

from docmemo.auth import service
from docmemo.auth.service import token_digest
from docmemo.db.engine import conninfo
from docmemo.db.models import Role
from docmemo.errors import InvalidCredentials
from tests.auth.conftest import http_client, running_app
from tests.helpers import PASSWORD, login, make_user

NEW_PASSWORD = "Battery-Staple-8"


async def _change(
    http: httpx.AsyncClient, old: str = PASSWORD, new: str = NEW_PASSWORD
) -> httpx.Response:
    return await http.post("/change_password", data={"old_password": old, "new_password": new})


def _password_hash(engine: Engine, user_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT password FROM users WHERE user_id = :u"), {"u": user_id}
        ).scalar_one()


def _session_hashes(engine: Engine, user_id: str) -> set[bytes]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT token_hash FROM sessions WHERE user_id = :u"), {"u": user_id}
        )
        return {bytes(row[0]) for row in rows}


async def _status_name(http: httpx.AsyncClient, token: str | None = None) -> str | None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return (await http.get("/status", headers=headers)).json()["authentication"]["name"]


async def test_a_change_ends_every_session_and_keeps_the_caller_signed_in(
    pool, app, sync_engine, settings
):
    user = await make_user(pool, Role.PATIENT)
    async with http_client(app) as laptop, http_client(app) as phone:
        laptop_token = (await login(laptop, user.name)).json()["access_token"]
        phone_token = (await login(phone, user.name)).json()["access_token"]

        response = await _change(laptop)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"]["user_id"] == user.user_id
        new_token = body["access_token"]
        assert new_token not in (laptop_token, phone_token)

        # Every earlier session has ended, on every device; the caller's cookie was
        # replaced by the new session, which is the account's only one.
        assert await _status_name(phone) is None
        assert await _status_name(laptop, laptop_token) is None
        assert await _status_name(laptop) == user.name
        assert laptop.cookies["docmemo_session"] == new_token
        assert _session_hashes(sync_engine, user.user_id) == {
            token_digest(new_token, settings.secret_key)
        }
        record = await laptop.get(f"/get_user_by_name/{user.name}")
        assert record.status_code == 200


async def test_after_a_change_only_the_new_password_logs_in(pool, app):
    user = await make_user(pool, Role.CAREGIVER)
    async with http_client(app) as http:
        await login(http, user.name)
        assert (await _change(http)).status_code == 200
        old = await http.post("/login", data={"name": user.name, "password": PASSWORD})
        new = await http.post("/login", data={"name": user.name, "password": NEW_PASSWORD})
    assert old.status_code == 401
    assert new.status_code == 200


async def test_a_wrong_current_password_is_403_and_changes_nothing(
    pool, app, sync_engine, settings
):
    user = await make_user(pool, Role.PATIENT)
    hash_before = _password_hash(sync_engine, user.user_id)
    async with http_client(app) as http:
        token = (await login(http, user.name)).json()["access_token"]
        response = await _change(http, old="not-the-password")
        assert response.status_code == 403
        assert response.json() == {"detail": "Wrong password"}
        assert "set-cookie" not in response.headers
        assert await _status_name(http, token) == user.name  # still logged in
    assert _password_hash(sync_engine, user.user_id) == hash_before


async def test_wrong_current_passwords_count_as_failed_logins(pool, app, settings):
    user = await make_user(pool, Role.PATIENT)
    async with http_client(app) as http:
        await login(http, user.name)
        for _ in range(settings.login_max_failures):
            assert (await _change(http, old="guess")).status_code == 403
        # The account is locked, for a change as for a login, even with the right one.
        refused = await _change(http)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        login_refused = await http.post("/login", data={"name": user.name, "password": PASSWORD})
        assert login_refused.status_code == 429


async def test_wrong_current_passwords_count_against_the_address_too(pool, settings):
    async with running_app(settings, login_address_max_failures=3) as strict_app:
        users = [await make_user(pool, Role.PATIENT) for _ in range(2)]
        async with (
            http_client(strict_app, "192.0.2.31") as first,
            http_client(strict_app, "192.0.2.31") as second,
        ):
            await login(first, users[0].name)
            await login(second, users[1].name)
            assert (await _change(first, old="guess")).status_code == 403
            assert (await _change(second, old="guess")).status_code == 403
            assert (await _change(first, old="guess")).status_code == 403
            refused = await _change(second)  # right password, but the address is over
            assert refused.status_code == 429
            assert "address" in refused.json()["detail"]


async def test_without_a_session_it_is_401(client):
    response = await _change(client)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_passwords_in_the_url_are_refused(pool, app, sync_engine):
    user = await make_user(pool, Role.PATIENT)
    hash_before = _password_hash(sync_engine, user.user_id)
    async with http_client(app) as http:
        await login(http, user.name)
        in_url = await http.post(
            "/change_password", params={"old_password": PASSWORD, "new_password": NEW_PASSWORD}
        )
        both = await http.post(
            "/change_password",
            params={"new_password": "Sneaky-1"},
            data={"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
    assert in_url.status_code == both.status_code == 422
    assert PASSWORD not in in_url.text
    assert _password_hash(sync_engine, user.user_id) == hash_before


async def test_the_new_password_follows_the_creation_rules(pool, app, sync_engine):
    user = await make_user(pool, Role.PATIENT)
    hash_before = _password_hash(sync_engine, user.user_id)
    async with http_client(app) as http:
        await login(http, user.name)
        empty = await _change(http, new="")
        too_long = await _change(http, new="x" * 1025)
        missing = await http.post("/change_password", data={"old_password": PASSWORD})
    assert empty.status_code == too_long.status_code == missing.status_code == 422
    assert "x" * 1025 not in too_long.text
    assert _password_hash(sync_engine, user.user_id) == hash_before


async def test_of_two_concurrent_changes_exactly_one_wins(pool, app, sync_engine):
    user = await make_user(pool, Role.PATIENT)
    async with http_client(app) as first, http_client(app) as second:
        await login(first, user.name)
        await login(second, user.name)
        answers = await asyncio.gather(
            _change(first, new="First-Choice-1"), _change(second, new="Second-Choice-2")
        )
    codes = sorted(answer.status_code for answer in answers)
    # The loser's old password is no longer the password (403), or its session
    # ended before it was even looked up (401).
    assert codes in ([200, 401], [200, 403])
    winner = "First-Choice-1" if answers[0].status_code == 200 else "Second-Choice-2"
    async with http_client(app) as http:
        ok = await http.post("/login", data={"name": user.name, "password": winner})
    assert ok.status_code == 200
    assert len(_session_hashes(sync_engine, user.user_id)) == 2  # winner's + this login


async def test_a_login_racing_a_change_does_not_keep_a_session(pool, settings, sync_engine):
    """A login that checked the old password just before a change commits must not
    leave a session the change did not end: its session insert waits for the change's
    row lock, then sees the new password and gives up."""
    user = await make_user(pool, Role.PATIENT)
    async with await psycopg.AsyncConnection.connect(conninfo(settings)) as change:
        # The change, under way: the new hash written, the sessions ended, not committed.
        await change.execute(
            "UPDATE users SET password = 'changed' WHERE user_id = %s", (user.user_id,)
        )
        await change.execute("DELETE FROM sessions WHERE user_id = %s", (user.user_id,))
        racing_login = asyncio.create_task(service.login(pool, user.name, PASSWORD, settings))
        for _ in range(1000):  # until the login waits for the lock (or gives up)
            if _waits_for_a_lock(sync_engine) or racing_login.done():
                break
            await asyncio.sleep(0.01)
        assert not racing_login.done(), "the login did not wait for the change"
        await change.commit()
    with pytest.raises(InvalidCredentials):
        await racing_login
    assert _session_hashes(sync_engine, user.user_id) == set()


def _waits_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO sessions%'"
                )
            ).scalar_one()
        )
