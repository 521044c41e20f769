"""Signing in and out in the browser, with the API's sessions and messages."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.clinic.browser import Accounts, screenshot, sign_in


def test_a_wrong_password_and_an_unknown_name_get_the_same_generic_message(
    page: Page, accounts: Accounts
) -> None:
    messages = []
    for name, password in ((accounts.general, "not-the-password"), ("Nobody Here", "whatever")):
        page.goto("/app/sign-in")
        page.get_by_label("Name").fill(name)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        expect(alert).to_be_visible()
        messages.append(alert.inner_text())
        # The name is given back to correct it, the password is not.
        expect(page.get_by_label("Name")).to_have_value(name)
        expect(page.get_by_label("Password")).to_have_value("")
    assert messages[0] == messages[1] == "The name or the password is not right."
    screenshot(page, "sign-in-failed")


def test_a_page_that_needs_a_session_signs_in_first_then_comes_back(
    page: Page, accounts: Accounts
) -> None:
    page.goto("/app/cohort")
    page.goto("/app")
    expect(page).to_have_url("/app/sign-in?next=/app")
    screenshot(page, "sign-in")
    page.get_by_label("Name").fill(accounts.general.upper())
    page.get_by_label("Password").fill("Correct-Horse-7")
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"Signed in as {accounts.general}")).to_be_visible()
    assert page.url.endswith("/app")


def test_signing_out_ends_the_session_on_the_server(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.caregiver)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "docmemo_session"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    assert not [c for c in page.context.cookies() if c["name"] == "docmemo_session"]
    # The old token is dead on the server too, not only forgotten by the browser.
    status = page.request.get(
        "/status", headers={"Authorization": f"Bearer {cookie['value']}"}
    ).json()
    assert status["authentication"]["logged_in"] is False
