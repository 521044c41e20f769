"""Helpers of the browser journeys: the server under test, its accounts, signing in,
screenshots and layout checks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
from playwright.sync_api import Page

from docmemo.config import Settings
from docmemo.db.engine import conninfo
from tests.conftest import REPO_ROOT
from tests.helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
# Without the networking flags Chromium calls Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("DOCMEMO_SCREENSHOTS", REPO_ROOT / "test-artifacts/screenshots"))
WIDE = {"width": 1440, "height": 900}
NARROW = {"width": 360, "height": 740}


@dataclass(frozen=True)
class WebApp:
    url: str
    database_url: str

    def sql(self, query: str, params: dict | None = None) -> list[tuple]:
        settings = Settings(_env_file=None, database_url=self.database_url)
        with psycopg.connect(conninfo(settings)) as db:
            return db.execute(query, params or {}).fetchall()


@dataclass(frozen=True)
class Accounts:
    """People made for the journeys, all with tests.helpers.PASSWORD; ``patient`` is
    in the care of ``caregiver``, ``other_patient`` is not."""

    patient: str
    other_patient: str
    caregiver: str
    general: str
    psychologist: str
    neurologist: str


def sign_in(page: Page, name: str, password: str = PASSWORD) -> None:
    """Sign in through the sign-in page, as a person would, and land signed in."""
    page.goto("/app/sign-in")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.get_by_text(f"Signed in as {name}").is_visible()


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot kept by the run in SCREENSHOTS (test-artifacts/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def submit_form(page: Page, action: str, fields: dict[str, str]) -> None:
    """Send a form the page does not show (as a tampering person would), from the page
    itself: a real browser post, with its cookies and same-origin headers."""
    page.evaluate(
        """([action, fields]) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = action;
            for (const [name, value] of Object.entries(fields)) {
                const input = document.createElement("input");
                input.name = name;
                input.value = value;
                form.append(input);
            }
            document.body.append(form);
            form.submit();
        }""",
        [action, fields],
    )


def fits_width(page: Page) -> bool:
    """Nothing wider than the window: no sideways scrolling (at 360 px, say)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# axe-core's rules for WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


def assert_accessible(page: Page) -> None:
    """axe-core (pinned through axe-playwright-python) finds no WCAG 2 A/AA violation on
    the page as it is now; else the test fails with each rule broken and where."""
    # Imported on use: the module reads axe-core's 570 kB script when imported.
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": WCAG_AA_TAGS}, "resultTypes": ["violations"]}
    results = Axe().run(page, options=options).response
    problems = []
    for violation in results["violations"]:
        problems.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            where = " ".join(str(target) for target in node["target"])
            summary = " ".join(node.get("failureSummary", "").split())
            problems.append(f"    at {where}: {node['html'][:160]}\n      {summary}")
    assert not problems, (
        f"axe-core {results['testEngine']['version']} found {len(results['violations'])} "
        f"accessibility problem(s) on {page.url} at {page.viewport_size}:\n" + "\n".join(problems)
    )
