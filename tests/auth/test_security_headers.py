"""Security headers on every answer (docmemo.web.headers): successes, every error
status, the docs page, and even an unexpected 500."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest
from starlette.responses import JSONResponse

from docmemo.config import Settings
from docmemo.db.models import Role
from docmemo.web.app import SWAGGER_UI_PATH
from docmemo.web.headers import API_CONTENT_SECURITY_POLICY, SecurityHeaders
from tests.auth.conftest import running_app
from tests.helpers import app_client, login, make_user

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
API = {**COMMON, "content-security-policy": API_CONTENT_SECURITY_POLICY}


def assert_api_headers(response: httpx.Response) -> None:
    for name, value in API.items():
        # One header of each name, with our value: never two.
        assert response.headers.get_list(name) == [value], (response.request.url, name)


async def test_successful_answers_carry_them(pool, client):
    user = await make_user(pool, Role.HEALTHPRO)
    logged_in = await login(client, user.name)
    for response in (
        logged_in,
        await client.get("/"),
        await client.get("/status"),
        await client.get("/count_over/10"),
        await client.get(f"/get_user_by_name/{user.name}"),
        await client.get("/openapi.json"),
        await client.get("/health/live"),
        await client.post("/logout"),
    ):
        assert response.status_code == 200, response.request.url
        assert_api_headers(response)


async def test_error_answers_carry_them(pool, client, settings):
    anonymous_read = await client.get("/get_user_by_name/Anyone")
    assert anonymous_read.status_code == 401
    unknown_path = await client.get("/no/such/page")
    assert unknown_path.status_code == 404
    wrong_method = await client.delete("/status")
    assert wrong_method.status_code == 405
    invalid = await client.get("/count_over/not-a-number")
    assert invalid.status_code == 422
    forbidden = await client.post(
        "/create_user/Doctor Nobody",
        params={"status": "healthpro", "password": "pw", "specialty": "general"},
    )
    assert forbidden.status_code == 403
    for _ in range(settings.login_max_failures):
        await client.post("/login", data={"name": "Header Victim", "password": "wrong"})
    throttled = await client.post("/login", data={"name": "Header Victim", "password": "wrong"})
    assert throttled.status_code == 429
    for response in (anonymous_read, unknown_path, wrong_method, invalid, forbidden, throttled):
        assert_api_headers(response)

    user = await make_user(pool, Role.PATIENT)
    await login(client, user.name)
    hidden = await client.get("/get_user_by_name/Somebody Else Entirely")
    assert hidden.status_code == 404
    assert_api_headers(hidden)


async def test_503_with_the_database_down_carries_them():
    unreachable = Settings(
        _env_file=None,
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/docmemo_test",
        db_connect_timeout_s=1,
    )
    async with app_client(unreachable) as http:
        response = await http.get("/count_over/10")
    assert response.status_code == 503
    assert_api_headers(response)


async def test_an_unexpected_500_carries_them(settings):
    async with running_app(settings) as app:

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("a bug")

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            response = await http.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert_api_headers(response)


async def test_the_docs_page_gets_a_strict_policy_of_its_own_origin_and_script(client):
    docs = await client.get("/docs")
    assert docs.status_code == 200
    for name, value in COMMON.items():
        assert docs.headers[name] == value
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in docs.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"
    assert policy["connect-src"] == "'self'"
    assert "'unsafe-inline'" not in docs.headers["content-security-policy"]
    assert "'unsafe-eval'" not in docs.headers["content-security-policy"]
    # Swagger UI comes from the package, never from a CDN (the clinic may be offline).
    assert "http" not in docs.headers["content-security-policy"]
    assert "http" not in docs.text
    # The page's inline script is allowed by its hash, and nothing else inline is.
    inline = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert policy["script-src"].split() == ["'self'", f"'sha256-{digest}'"]


async def test_the_docs_page_s_files_are_served_from_the_package(client):
    docs = await client.get("/docs")
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert f"{SWAGGER_UI_PATH}/swagger-ui-bundle.js" in assets
    assert f"{SWAGGER_UI_PATH}/swagger-ui.css" in assets
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["content-type"].startswith(types[asset[asset.rindex(".") :]])
        # Kept and revalidated (by ETag), not downloaded again on every visit.
        assert response.headers["cache-control"] == "no-cache"


async def test_only_the_swagger_page_is_served(client):
    """ReDoc and the OAuth2 redirect page are off: they would need a looser policy."""
    for path in ("/redoc", "/docs/oauth2-redirect"):
        response = await client.get(path)
        assert response.status_code == 404
        assert_api_headers(response)


@pytest.mark.parametrize("with_headers", [True, False])
async def test_a_header_a_route_sets_itself_is_kept_not_doubled(with_headers):
    """For static assets later (issue 7): their own Cache-Control wins."""
    own = {"cache-control": "public, max-age=3600"} if with_headers else None
    inner = JSONResponse({"ok": True}, headers=own)
    transport = httpx.ASGITransport(app=SecurityHeaders(inner))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        response = await http.get("/anything")
    expected = "public, max-age=3600" if with_headers else "no-store"
    assert response.headers.get_list("cache-control") == [expected]
    assert response.headers["x-frame-options"] == "DENY"
