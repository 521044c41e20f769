"""The web app's HTTP behaviour, without a browser: error pages, redirects, the
refusal of cross-site forms, the policy and caching headers of pages and assets."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from docmemo.clinic.routers.sessions import safe_next_path
from docmemo.db.models import Role
from docmemo.web.headers import API_CONTENT_SECURITY_POLICY, WEB_APP_CONTENT_SECURITY_POLICY
from tests.helpers import PASSWORD, login, make_user


async def test_an_unknown_page_is_explained_in_html_under_the_apps_policy(client):
    response = await client.get("/app/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == WEB_APP_CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-store"
    assert '<h1 id="error-title">Not found</h1>' in response.text
    assert "Traceback" not in response.text


async def test_the_api_keeps_answering_json_outside_the_app(client):
    for path in ("/apple", "/application/x"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}
        assert response.headers["content-security-policy"] == API_CONTENT_SECURITY_POLICY


async def test_an_error_page_shows_who_is_signed_in(pool, client):
    person = await make_user(pool, Role.CAREGIVER)
    await login(client, person.name)
    response = await client.get("/app/no-such-page")
    assert response.status_code == 404
    assert f"Signed in as <strong>{person.name}</strong>" in response.text


async def test_a_page_that_needs_a_session_sends_to_sign_in_and_back(client):
    response = await client.get("/app", params={"q": "ann"})
    assert response.status_code == 303
    assert response.headers["location"] == "/app/sign-in?next=/app%3Fq%3Dann"


async def test_signing_in_sets_the_apis_session_cookie_and_goes_where_asked(pool, client):
    person = await make_user(pool, Role.HEALTHPRO)
    response = await client.post(
        "/app/sign-in",
        data={"name": person.name.upper(), "password": PASSWORD, "next": "/app/cohort"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/app/cohort"
    status = (await client.get("/status")).json()
    assert status["authentication"]["name"] == person.name


async def test_a_failed_sign_in_keeps_the_name_and_never_echoes_the_password(pool, client):
    person = await make_user(pool, Role.CAREGIVER)
    response = await client.post(
        "/app/sign-in", data={"name": person.name, "password": "Wrong-password-123"}
    )
    assert response.status_code == 401
    assert "The name or the password is not right." in response.text
    assert f'value="{person.name}"' in response.text
    assert "Wrong-password-123" not in response.text
    assert "set-cookie" not in response.headers


async def test_an_empty_form_asks_for_both_fields(client):
    response = await client.post("/app/sign-in", data={"name": " "})
    assert response.status_code == 422
    assert "Enter your name and your password." in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "https://elsewhere.example"},
    ],
)
async def test_a_form_posted_from_another_site_is_refused(pool, client, headers):
    person = await make_user(pool, Role.CAREGIVER)
    response = await client.post(
        "/app/sign-in", data={"name": person.name, "password": PASSWORD}, headers=headers
    )
    assert response.status_code == 403
    assert "Forms of this app can only be sent from its own pages" in response.text
    assert "set-cookie" not in response.headers


async def test_a_form_from_the_apps_own_pages_is_accepted(pool, client):
    person = await make_user(pool, Role.CAREGIVER)
    for headers in ({"sec-fetch-site": "same-origin"}, {"origin": "http://localhost"}):
        response = await client.post(
            "/app/sign-in", data={"name": person.name, "password": PASSWORD}, headers=headers
        )
        assert response.status_code == 303


async def test_too_many_failures_are_refused_with_the_wait_in_words(pool, client, settings):
    person = await make_user(pool, Role.CAREGIVER)
    for _ in range(settings.login_max_failures):
        await client.post("/app/sign-in", data={"name": person.name, "password": "wrong"})
    response = await client.post("/app/sign-in", data={"name": person.name, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed attempts. Wait" in response.text


async def test_signing_out_ends_the_session_and_clears_the_cookie(pool, client):
    person = await make_user(pool, Role.PATIENT)
    await login(client, person.name)
    response = await client.post("/app/sign-out")
    assert response.status_code == 303
    assert response.headers["location"] == "/app/sign-in?signed_out=true"
    assert 'docmemo_session=""' in response.headers["set-cookie"]
    assert (await client.get("/status")).json()["authentication"]["logged_in"] is False


async def test_assets_are_served_from_the_package_and_revalidated(client):
    response = await client.get("/app/static/app.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["etag"]
    revalidated = await client.get(
        "/app/static/app.css", headers={"if-none-match": response.headers["etag"]}
    )
    assert revalidated.status_code == 304


def _request(root_path: str = "") -> Request:
    return Request({"type": "http", "root_path": root_path, "path": "/", "headers": []})


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("/app/cohort", "/app/cohort"),
        ("/app/patients/Ann%20Lee", "/app/patients/Ann%20Lee"),
        ("/app", "/app"),
        ("/app?q=ann", "/app?q=ann"),
        (None, "/app"),
        ("", "/app"),
        ("https://elsewhere.example/app", "/app"),
        ("//elsewhere.example/app", "/app"),
        ("/app//elsewhere.example", "/app"),
        ("/app/\\elsewhere.example", "/app"),
        ("/apple", "/app"),
        ("/status", "/app"),
    ],
)
def test_after_sign_in_only_a_page_of_the_app_is_a_destination(asked, expected):
    assert safe_next_path(_request(), asked) == expected


def test_behind_a_proxy_the_destination_keeps_the_root_path():
    assert safe_next_path(_request("/memo"), "/memo/app/cohort") == "/memo/app/cohort"
    assert safe_next_path(_request("/memo"), "/app/cohort") == "/memo/app"
