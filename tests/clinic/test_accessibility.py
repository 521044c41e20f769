"""Every page of the web app, in each state a person meets it, checked by axe-core for
WCAG 2 A/AA (labels, names, contrast, landmarks, ARIA, language…) at 1440 px and at
360 px, where nothing may be wider than the window either."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.clinic.browser import (
    NARROW,
    WIDE,
    Accounts,
    assert_accessible,
    fits_width,
    screenshot,
    sign_in,
    submit_form,
)
from tests.helpers import unique_name


def sign_in_page(page: Page, accounts: Accounts) -> None:
    page.goto("/app/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def sign_in_failed(page: Page, accounts: Accounts) -> None:
    # A name nobody has: the same message as a wrong password, and no account's
    # failures counted (a real one would be slowed down by the other tests).
    page.goto("/app/sign-in")
    page.get_by_label("Name").fill(unique_name("Nobody"))
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()


def search_results(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.general)
    page.goto(f"/app?q={quote(accounts.patient.lower())}")
    expect(page.get_by_role("link", name=accounts.patient)).to_be_visible()


def patient_with_prediction(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.neurologist)
    page.goto(f"/app/patients/{quote(accounts.patient)}")
    expect(page.get_by_role("heading", name=accounts.patient, level=1)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Predicted course"))).to_be_visible()


def cohort(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.psychologist)
    page.goto("/app/cohort")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    # Its script asks the API for the counts as the page opens: checked once they show.
    page.wait_for_load_state("networkidle")


def add_person_with_errors(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.general)
    page.goto("/app/people/new?role=patient")
    page.get_by_role("button", name=re.compile(r"^Add the ")).click()
    expect(page.locator("main [aria-invalid=true]").first).to_be_visible()


def add_person_forbidden(page: Page, accounts: Accounts) -> None:
    """Not signed in, a health professional may not be added: the form says so (403)."""
    page.goto("/app/people/new?role=healthpro")
    expect(page.locator("main")).to_contain_text("Only a signed-in health professional")


def unknown_patient(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.caregiver)
    page.goto(f"/app/patients/{quote(unique_name('Nobody'))}")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def forbidden(page: Page, accounts: Accounts) -> None:
    """A caregiver sending an assessment (the form a health professional sees): the
    error page of a refusal (403)."""
    sign_in(page, accounts.caregiver)
    path = f"/app/patients/{quote(accounts.patient)}"
    page.goto(path)
    with page.expect_navigation():
        submit_form(page, f"{path}/assessments", {"mmse": "20", "assessed_at": "2026-01-05"})
    expect(page.get_by_role("heading", name="This page is not for your role")).to_be_visible()


PAGES: dict[str, Callable[[Page, Accounts], None]] = {
    "sign-in": sign_in_page,
    "sign-in-failed": sign_in_failed,
    "search-results": search_results,
    "patient-neurologist": patient_with_prediction,
    "cohort": cohort,
    "people-errors": add_person_with_errors,
    "people-forbidden": add_person_forbidden,
    "error-not-found": unknown_patient,
    "error-forbidden": forbidden,
}


@pytest.mark.parametrize("state", PAGES)
@pytest.mark.parametrize("width", ["wide", "narrow"])
def test_every_page_is_accessible_and_fits_the_window(
    page: Page, accounts: Accounts, state: str, width: str
) -> None:
    page.set_viewport_size(NARROW if width == "narrow" else WIDE)
    PAGES[state](page, accounts)
    if width == "narrow":
        screenshot(page, f"narrow-{state}")
    assert_accessible(page)
    assert fits_width(page), (
        f"{state} is wider than {page.viewport_size['width']} px: {overflowing(page)}"
    )


def overflowing(page: Page) -> list[str]:
    """The innermost elements reaching past the window's right edge, to say what to fix."""
    return page.evaluate(
        """() => [...document.querySelectorAll("body *")]
            .filter(element => element.getBoundingClientRect().right > window.innerWidth + 0.5
                && ![...element.children].some(child =>
                    child.getBoundingClientRect().right > window.innerWidth + 0.5))
            .slice(0, 10)
            .map(element => `${element.tagName.toLowerCase()}.${[...element.classList].join(".")}`
                + ` (right edge ${Math.round(element.getBoundingClientRect().right)} px)`)"""
    )


def test_the_keyboard_can_skip_to_the_content_and_sees_where_it_is(page: Page) -> None:
    page.goto("/app/no-such-page")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, "the skip link stays off screen"
    # The focus ring: an amber outline and a dark ring around it.
    ring = skip.evaluate(
        "element => { const style = getComputedStyle(element);"
        " return [style.outlineStyle, style.outlineWidth, style.boxShadow]; }"
    )
    assert ring[0] == "solid" and ring[1] == "3px" and ring[2] != "none", ring
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # The next stop is in the page's content, past the header's links.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Back to the start page")).to_be_focused()
