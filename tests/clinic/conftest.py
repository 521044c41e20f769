"""The web app in a real browser: Debian's chromium driven by Playwright, against a real
`docmemo serve` on a database of its own (seeded, with its model fitted at start).

Each test gets a fresh browser context (no cookies) at 1440 × 900. Every request the
page makes must stay on the server (the clinic may be offline: no CDN), and every
console error (a CSP violation, a script error) fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    sync_playwright,
)

from tests.clinic.browser import CHROMIUM, CHROMIUM_ARGS, WIDE, Accounts, WebApp
from tests.helpers import PASSWORD, unique_name
from tests.processes import DEMO_PASSWORD, Server, base_env, fresh_database


@pytest.fixture(scope="session")
def web_app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebApp]:
    # Its own name when several test runs share one server (DOCMEMO_BROWSER_DB).
    url = fresh_database(database_url, os.environ.get("DOCMEMO_BROWSER_DB", "docmemo_browser_test"))
    env = base_env(DATABASE_URL=url, DOCMEMO_SEED_USERS="400", DOCMEMO_ACCESS_LOG="false")
    server = Server(env, tmp_path_factory.mktemp("web_app"), "--workers", "1")
    try:
        server.wait_ready()
        yield WebApp(server.url, url)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def accounts(web_app: WebApp) -> Accounts:
    """Made through the API itself, by a seeded neurologist."""
    [(founder,)] = web_app.sql(
        "SELECT name FROM healthpros WHERE specialty = 'neurologist' ORDER BY name LIMIT 1"
    )
    names = {
        role: unique_name(role.capitalize())
        for role in ("patient", "other", "caregiver", "general", "psychologist", "neurologist")
    }
    with httpx.Client(base_url=web_app.url) as api:
        api.get("/login", params={"name": founder, "password": DEMO_PASSWORD}).raise_for_status()

        def create(name: str, **params: object) -> dict:
            response = api.post(f"/create_user/{name}", params={"password": PASSWORD, **params})
            assert response.status_code == 201, response.text
            return response.json()

        caregiver = create(names["caregiver"], status="caregiver")
        create(
            names["patient"], status="patient", age=74, mmse=22, caregiver_id=caregiver["user_id"]
        )
        create(names["other"], status="patient", age=68, mmse=27)
        for specialty in ("general", "psychologist", "neurologist"):
            create(names[specialty], status="healthpro", specialty=specialty)
    return Accounts(
        patient=names["patient"],
        other_patient=names["other"],
        caregiver=names["caregiver"],
        general=names["general"],
        psychologist=names["psychologist"],
        neurologist=names["neurologist"],
    )


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Per module: while Playwright's sync API runs, its event loop is the thread's
    running loop, and pytest-asyncio cannot run the async tests of the next modules."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium package")
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser, web_app: WebApp) -> Iterator[Page]:
    """A page in a new context, failing the test on a request that leaves the server,
    a console error, or an asset or fetch that fails."""
    context = browser.new_context(base_url=web_app.url, viewport=WIDE)
    server_host = urlsplit(web_app.url).netloc
    foreign: list[str] = []
    console_errors: list[str] = []

    def refuse_foreign(route, request) -> None:
        if urlsplit(request.url).netloc == server_host or request.url.startswith("data:"):
            route.continue_()
        else:
            foreign.append(request.url)
            route.abort()

    def note_error(message: ConsoleMessage) -> None:
        # A page answered 4xx is this app explaining an error; its console line says
        # nothing more. A failed script, style sheet or fetch is caught below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def note_failed_resource(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            console_errors.append(f"{response.status} for {response.url}")

    context.route("**/*", refuse_foreign)
    browser_page = context.new_page()
    browser_page.on("console", note_error)
    browser_page.on("response", note_failed_resource)
    browser_page.on("pageerror", lambda error: console_errors.append(str(error)))
    browser_page.set_default_timeout(10_000)
    try:
        yield browser_page
    finally:
        context.close()
    assert not foreign, f"requests left the server: {foreign}"
    assert not console_errors, f"console errors: {console_errors}"
