"""Login, sessions and logout over HTTP (SPEC §3–4)."""

from __future__ import annotations

import statistics
import time

import httpx
from sqlalchemy import text

from docmemo.auth.service import MAX_TOKEN_LENGTH, identity_for_token, token_digest
from docmemo.db.models import Role, Specialty
from docmemo.web.app import create_app
from tests.helpers import PASSWORD, login, make_user


async def test_login_sets_an_httponly_samesite_cookie_and_status_shows_the_user(pool, client, db):
    user = await make_user(pool, Role.HEALTHPRO, specialty=Specialty.NEUROLOGIST)
    response = await login(client, user.name)

    cookie = response.headers["set-cookie"]
    assert cookie.startswith("docmemo_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on localhost
    assert "Max-Age=" in cookie
    assert response.json()["user"] == {
        "user_id": user.user_id,
        "name": user.name,
        "status": "healthpro",
        "specialty": "neurologist",
    }
    auth = (await client.get("/status")).json()["authentication"]
    assert auth == {
        "logged_in": True,
        "user_id": user.user_id,
        "name": user.name,
        "status": "healthpro",
        "specialty": "neurologist",
    }


async def test_name_ignores_case_but_password_does_not(pool, client, db):
    user = await make_user(pool, Role.CAREGIVER, password="Secret-Pass")
    ok = await client.get("/login", params={"name": user.name.upper(), "password": "Secret-Pass"})
    assert ok.status_code == 200
    wrong_case = await client.get("/login", params={"name": user.name, "password": "secret-pass"})
    assert wrong_case.status_code == 401


async def test_unknown_name_and_wrong_password_get_the_same_answer(pool, client, db):
    user = await make_user(pool, Role.PATIENT)
    unknown = await client.get("/login", params={"name": "Nobody Here", "password": PASSWORD})
    wrong = await client.get("/login", params={"name": user.name, "password": "not-it"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {"detail": "Invalid name or password"}
    assert "set-cookie" not in unknown.headers and "set-cookie" not in wrong.headers


async def test_unknown_name_costs_a_password_verification_too(pool, client, db):
    # Without the dummy hash an unknown name would answer ~20x faster than a wrong password.
    user = await make_user(pool, Role.PATIENT)

    async def median_duration(name: str) -> float:
        durations = []
        for _ in range(5):
            start = time.perf_counter()
            await client.post("/login", data={"name": name, "password": "wrong-one"})
            durations.append(time.perf_counter() - start)
        return statistics.median(durations)

    unknown = await median_duration("Nobody At All")
    wrong = await median_duration(user.name)
    await db.execute("DELETE FROM login_throttle")
    assert unknown > 0.5 * wrong


async def test_post_login_takes_a_form_body(pool, client, db):
    user = await make_user(pool, Role.PATIENT)
    response = await client.post("/login", data={"name": user.name, "password": PASSWORD})
    assert response.status_code == 200
    assert (await client.get("/status")).json()["authentication"]["name"] == user.name


async def test_login_without_parameters_is_422(client):
    assert (await client.get("/login")).status_code == 422
    assert (await client.get("/login", params={"name": "x"})).status_code == 422
    assert (await client.post("/login", data={"password": "x"})).status_code == 422


async def test_each_login_gets_a_fresh_token_and_only_its_hash_is_stored(
    pool, client, db, sync_engine
):
    first = await make_user(pool, Role.PATIENT)
    second = await make_user(pool, Role.PATIENT)
    tokens = [
        (await login(client, first.name)).json()["access_token"],
        (await login(client, first.name)).json()["access_token"],
        (await login(client, second.name)).json()["access_token"],
    ]
    assert len(set(tokens)) == 3
    with sync_engine.connect() as conn:
        stored = {
            bytes(row[0])
            for row in conn.execute(
                text("SELECT token_hash FROM sessions WHERE user_id IN (:a, :b)"),
                {"a": first.user_id, "b": second.user_id},
            )
        }
    assert all(token.encode() not in stored for token in tokens)
    assert token_digest(tokens[2], "dev-only-secret-key-change-me") in stored


async def test_login_rotates_the_session(pool, client, db):
    user = await make_user(pool, Role.PATIENT)
    old_token = (await login(client, user.name)).json()["access_token"]
    await login(client, user.name)  # same client: presents the old cookie
    old = await client.get("/status", headers={"Authorization": f"Bearer {old_token}"})
    assert old.json()["authentication"]["logged_in"] is False


async def test_logout_really_ends_the_session(pool, client, db):
    user = await make_user(pool, Role.PATIENT)
    token = (await login(client, user.name)).json()["access_token"]
    response = await client.post("/logout")
    assert response.status_code == 200
    assert response.json() == {"detail": "Logged out"}
    assert 'docmemo_session=""' in response.headers["set-cookie"]
    # The token itself no longer works, even when a client keeps sending it.
    replay = await client.get(
        f"/get_user_by_name/{user.name}", headers={"Cookie": f"docmemo_session={token}"}
    )
    assert replay.status_code == 401
    status = await client.get("/status", headers={"Authorization": f"Bearer {token}"})
    assert status.json()["authentication"]["logged_in"] is False


async def test_logout_without_a_session_is_harmless(client):
    response = await client.post("/logout")
    assert response.status_code == 200
    assert response.json() == {"detail": "No session to end"}


async def test_expired_session_is_refused(pool, client, db, sync_engine):
    user = await make_user(pool, Role.PATIENT)
    token = (await login(client, user.name)).json()["access_token"]
    assert (await client.get(f"/get_user_by_name/{user.name}")).status_code == 200
    with sync_engine.begin() as conn:
        conn.execute(
            text("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = :u"),
            {"u": user.user_id},
        )
    assert (await client.get(f"/get_user_by_name/{user.name}")).status_code == 401
    status = await client.get("/status", headers={"Authorization": f"Bearer {token}"})
    assert status.json()["authentication"]["logged_in"] is False


async def test_bearer_token_works_like_the_cookie(pool, app, db):
    user = await make_user(pool, Role.PATIENT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as browser:
        token = (await login(browser, user.name)).json()["access_token"]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as script:
        response = await script.get(
            f"/get_user_by_name/{user.name}", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200
    assert response.json()["name"] == user.name


async def test_an_over_long_token_is_no_session_anywhere(pool, app, settings):
    user = await make_user(pool, Role.HEALTHPRO)
    far_too_long = "x" * (MAX_TOKEN_LENGTH + 1)
    # Refused before any query: with no connection at all, it still answers.
    assert await identity_for_token(None, far_too_long, settings) is None  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as script:
        headers = {"Authorization": f"Bearer {far_too_long}"}
        read = await script.get(f"/get_user_by_name/{user.name}", headers=headers)
        status = await script.get("/status", headers=headers)
    assert read.status_code == 401
    assert status.json()["authentication"]["logged_in"] is False


async def test_cookie_is_secure_away_from_localhost(pool, app, db):
    user = await make_user(pool, Role.PATIENT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://clinic.example") as http:
        response = await login(http, user.name)
    assert "Secure" in response.headers["set-cookie"]


async def test_a_name_no_one_can_have_is_just_an_unknown_name(client):
    response = await client.get("/login", params={"name": "nul\x00byte", "password": "x"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid name or password"}


async def test_a_session_is_recognised_by_another_replica(pool, client, db, settings):
    user = await make_user(pool, Role.CAREGIVER)
    token = (await login(client, user.name)).json()["access_token"]
    other_replica = create_app(settings)  # shares nothing in memory with `client`'s app
    async with other_replica.router.lifespan_context(other_replica):
        transport = httpx.ASGITransport(app=other_replica)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            http.cookies.set("docmemo_session", token)
            response = await http.get(f"/get_user_by_name/{user.name}")
    assert response.status_code == 200


def test_loopback_hosts_are_recognised():
    from docmemo.auth.cookies import is_loopback_host

    assert all(
        map(
            is_loopback_host,
            ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]", "app.localhost"],
        )
    )
    assert not any(
        map(is_loopback_host, [None, "", "clinic.example", "10.0.0.1", "localhost.evil"])
    )
