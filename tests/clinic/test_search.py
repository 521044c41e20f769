"""The start page in the browser: searching names as one types, each role finding only
whom it may read, and opening a patient from the results with the keyboard."""

from __future__ import annotations

import re
from urllib.parse import quote

from playwright.sync_api import Page, expect

from tests.clinic.browser import NARROW, Accounts, fits_width, screenshot, sign_in
from tests.helpers import PASSWORD


def _fragment(name: str) -> str:
    """A part of a test account's name that no other name holds: its random middle."""
    return name.split(" ", 1)[1][:8]


def _type(page: Page, text: str) -> None:
    """Type into the search box key by key, as a person does, without pressing Enter."""
    box = page.get_by_label("Name", exact=True)
    box.fill("")
    box.press_sequentially(text, delay=20)


def _results(page: Page):
    return page.locator("#search-results .search-result__name")


def _status(page: Page):
    return page.get_by_role("status")


def test_a_health_professional_finds_both_patients_as_they_type(
    page: Page, accounts: Accounts
) -> None:
    sign_in(page, accounts.general)
    expect(page.get_by_role("heading", name="Find a person")).to_be_visible()
    expect(page.get_by_text("You can find anyone in the registry.")).to_be_visible()
    # Nothing reloads the page while typing: a mark set on it survives the search.
    page.evaluate("window.searchMark = 'still here'")
    for name in (accounts.patient, accounts.other_patient):
        _type(page, _fragment(name).upper())
        expect(page.get_by_role("link", name=name)).to_be_visible()
        expect(_results(page)).to_have_count(1)
        expect(_status(page)).to_have_text("1 person found.")
        assert page.evaluate("window.searchMark") == "still here"
    # The address follows, so that the search can be shared or reloaded.
    shared = r"/app\?q=" + re.escape(_fragment(accounts.other_patient).upper()) + "$"
    expect(page).to_have_url(re.compile(shared))
    # A part of many names (the seeded registry's), for the screenshot.
    _type(page, "mar")
    expect(page).to_have_url(re.compile(r"/app\?q=mar$"))
    expect(_status(page)).to_have_text(re.compile(r"found"))
    screenshot(page, "search-results")


def test_results_say_who_each_person_is_but_show_no_score(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.neurologist)
    _type(page, _fragment(accounts.patient))
    row = page.locator(".search-result").filter(has_text=accounts.patient)
    # Age and role, not the MMSE (health data stays on the audited patient page).
    expect(row.locator(".search-result__about")).to_have_text("Patient, 74 years old")
    _type(page, _fragment(accounts.psychologist))
    row = page.locator(".search-result").filter(has_text=accounts.psychologist)
    expect(row).to_contain_text("Health professional: psychologist")
    # Only patients have a page to open.
    expect(page.get_by_role("link", name=accounts.psychologist)).to_have_count(0)
    _type(page, _fragment(accounts.neurologist))
    expect(page.locator(".search-result__about")).to_have_text(
        "Health professional: neurologist (you)"
    )


def test_a_caregiver_finds_their_patient_but_no_one_else(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.caregiver)
    expect(page.get_by_text("You can find yourself and the patients in your care.")).to_be_visible()
    _type(page, _fragment(accounts.patient))
    expect(page.get_by_role("link", name=accounts.patient)).to_be_visible()
    for name in (accounts.other_patient, accounts.general):
        _type(page, _fragment(name))
        expect(_status(page)).to_have_text("No one found.")
        expect(_results(page)).to_have_count(0)
    _type(page, _fragment(accounts.caregiver))
    expect(_results(page)).to_have_text([accounts.caregiver])


def test_a_patient_finds_only_themself(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.patient)
    expect(page.get_by_text("You can find only yourself.")).to_be_visible()
    _type(page, _fragment(accounts.patient))
    expect(_results(page)).to_have_text([accounts.patient])
    for name in (accounts.other_patient, accounts.caregiver, accounts.neurologist):
        _type(page, _fragment(name))
        expect(_status(page)).to_have_text("No one found.")
        expect(_results(page)).to_have_count(0)


def test_the_keyboard_goes_from_the_box_to_a_result_and_opens_it(
    page: Page, accounts: Accounts
) -> None:
    sign_in(page, accounts.psychologist)
    _type(page, _fragment(accounts.patient))
    link = page.get_by_role("link", name=accounts.patient)
    expect(link).to_be_visible()
    # Tab: past the Search button to the result.
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Search")).to_be_focused()
    page.keyboard.press("Tab")
    expect(link).to_be_focused()
    # The arrows: up to the box, down to the result, and Enter opens it.
    page.keyboard.press("ArrowUp")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"/app/patients/{quote(accounts.patient, safe='')}")
    expect(page.get_by_role("heading", name=accounts.patient, level=1)).to_be_visible()


def test_enter_searches_at_once_and_the_page_works_without_its_script(
    page: Page, accounts: Accounts
) -> None:
    sign_in(page, accounts.general)
    box = page.get_by_label("Name", exact=True)
    box.fill(_fragment(accounts.other_patient))
    box.press("Enter")
    expect(page.get_by_role("link", name=accounts.other_patient)).to_be_visible()
    # The same results rendered by the server, as a browser without JavaScript gets them.
    response = page.request.get(f"/app?q={quote(_fragment(accounts.other_patient))}")
    assert response.status == 200
    assert f">{accounts.other_patient}</a>" in response.text()
    assert "1 person found." in response.text()
    # The script's own request answers the results alone, not a whole page.
    fragment = page.request.get(f"/app/search?q={quote(_fragment(accounts.other_patient))}")
    assert fragment.status == 200
    assert f">{accounts.other_patient}</a>" in fragment.text()
    assert "<html" not in fragment.text()


def test_short_and_empty_queries_are_explained(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.general)
    _type(page, accounts.patient[:2])
    expect(
        page.get_by_text(re.compile(r"three letters in a row find them anywhere"))
    ).to_be_visible()
    for name in _results(page).all_inner_texts():
        assert name.lower().startswith(accounts.patient[:2].lower())
    _type(page, "")
    expect(page.get_by_text(re.compile(r"Type part of a name above"))).to_be_visible()


def test_any_query_gets_an_answer_never_an_error(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.general)
    for query in ("%", "_", "\\", "%' OR 1=1 --", "<script>x</script>", "\x00", "é" * 300):
        for path in ("/app", "/app/search"):
            response = page.request.get(f"{path}?q={quote(query)}")
            assert response.status == 200, (path, query)
            assert "<script>x</script>" not in response.text()


def test_signed_out_the_search_goes_through_the_sign_in_page(
    page: Page, accounts: Accounts
) -> None:
    page.goto("/app/search?q=abc")
    expect(page).to_have_url(re.compile(r"/app/sign-in\?next="))
    # A session that ends while the page is open: the next search goes through the
    # sign-in page, which is told to come back to this search.
    sign_in(page, accounts.caregiver)
    page.context.clear_cookies()
    fragment = _fragment(accounts.patient)
    _type(page, fragment)
    expect(page).to_have_url(re.compile(r"/app/sign-in\?next=/app%3Fq%3D" + fragment + "$"))
    page.get_by_label("Name").fill(accounts.caregiver)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Find a person")).to_be_visible()


def test_the_page_fits_a_narrow_phone(page: Page, accounts: Accounts) -> None:
    page.set_viewport_size(NARROW)
    sign_in(page, accounts.caregiver)
    _type(page, _fragment(accounts.patient))
    expect(page.get_by_role("link", name=accounts.patient)).to_be_visible()
    screenshot(page, "search-narrow")
    assert fits_width(page), page.evaluate(
        """[...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth)
            .map((e) => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"""
    )
