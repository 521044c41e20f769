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


def fits_width(page: Page) -> bool:
    """Nothing wider than the window: no sideways scrolling (at 360 px, say)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
