"""The API's interactive documentation (/docs, SPEC §3) in a real browser: Swagger UI
shipped in the package, under the page's strict content security policy. The `page`
fixture fails the test on any request leaving the server (no CDN: the clinic may be
offline) and on any console error, which includes every CSP violation."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from docmemo.web.app import without_pictures
from tests.clinic.browser import SCREENSHOTS, WebApp, screenshot


def test_swagger_ui_runs_from_the_package_and_presents_the_readme(
    page: Page, web_app: WebApp
) -> None:
    assets: list[str] = []
    page.on("request", lambda request: assets.append(request.url))
    page.goto("/docs")

    # The README is the API's description, rendered above the operations.
    info = page.locator(".swagger-ui .info")
    expect(info.get_by_role("heading", name="Docteur Memo", exact=False).first).to_be_visible()
    expect(info.get_by_role("heading", name="Endpoints")).to_be_visible()
    expect(info).to_contain_text("Demo accounts")

    # Every operation of SPEC §3 is listed.
    for method, path in (
        ("GET", "/login"),
        ("GET", "/status"),
        ("POST", "/create_user/{name}"),
        ("GET", "/get_user_by_name/{name}"),
        ("GET", "/count_over/{mmse}"),
        ("GET", "/count_under/{mmse}"),
        ("GET", "/predict_patient/{name}"),
    ):
        expect(operation(page, method, path)).to_be_visible()
    assert any(url.endswith("/swagger-ui/swagger-ui-bundle.js") for url in assets), assets
    screenshot(page, "docs")


def test_try_it_out_asks_the_api_and_shows_its_answer(page: Page, web_app: WebApp) -> None:
    page.goto("/docs")
    count_over = operation(page, "GET", "/count_over/{mmse}")
    count_over.locator(".opblock-summary-control").click()
    count_over.get_by_role("button", name="Try it out").click()
    count_over.get_by_placeholder("mmse", exact=True).fill("24")
    count_over.get_by_placeholder("min_age", exact=True).fill("60")
    count_over.get_by_role("button", name="Execute").click()

    # The server's answer, not the documented ones below it.
    answer = count_over.locator(".live-responses-table tr.response")
    expect(answer.locator(".response-col_status")).to_have_text("200")
    [(expected,)] = web_app.sql("SELECT count(*) FROM patients WHERE mmse > 24 AND age >= 60", {})
    expect(answer.locator(".response-col_description pre").first).to_have_text(
        re.compile(rf'"count":\s*{expected}\b')
    )
    # The operation alone: the whole page is some 12,000 px tall with the README.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    count_over.screenshot(path=SCREENSHOTS / "docs-try-it-out.png")


def operation(page: Page, method: str, path: str) -> Locator:
    """An operation's block on the Swagger UI page."""
    return page.locator(f".opblock-{method.lower()}").filter(
        has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
    )


def test_the_readme_s_pictures_are_left_out_of_the_docs_page() -> None:
    """Screenshots live in the repository, not in the package, and the page may load
    nothing from another site: each picture becomes its text alternative."""
    readme = (
        "Search: ![The search page](docs/screenshots/search.png)\n"
        '<img src="docs/chart.png" alt="A patient\'s chart" width="400"> '
        '<img src="logo.png">\n'
        "[![a badge](https://example.org/badge.svg)](https://example.org)"
    )
    assert without_pictures(readme) == (
        "Search: The search page\nA patient's chart \n[a badge](https://example.org)"
    )
