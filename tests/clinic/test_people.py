"""Adding a person in the browser: only the chosen role's fields, the API's rules
(users.service.create_user) and its messages next to the fields."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, quote

from playwright.sync_api import Browser, Locator, Page, Response, expect

from tests.clinic.browser import NARROW, Accounts, WebApp, fits_width, screenshot, sign_in
from tests.helpers import unique_name

NEW_PASSWORD = "Tulip-Garden-42"
ROLE_LABELS = ("Patient", "Caregiver", "Health professional")
PATIENT_LABELS = ("Age", "MMSE score", "Caregiver’s name")
SPECIALTY_LABELS = ("General practitioner", "Psychologist", "Neurologist")


def _field(page: Page, label: str) -> Locator:
    return page.get_by_label(label, exact=True)


def _role(page: Page, label: str) -> Locator:
    return page.get_by_role("radio", name=label, exact=True)


def _users_named(web_app: WebApp, name: str) -> int:
    [(count,)] = web_app.sql(
        "SELECT count(*) FROM users WHERE name_key(name) = name_key(%(name)s)", {"name": name}
    )
    return count


def _fill_common(page: Page, name: str, password: str = NEW_PASSWORD) -> None:
    _field(page, "Name").fill(name)
    _field(page, "Password").fill(password)
    _field(page, "Password again").fill(password)


def _fill_patient(page: Page, name: str, age: str, mmse: str, caregiver: str = "") -> None:
    _fill_common(page, name)
    _field(page, "Age").fill(age)
    _field(page, "MMSE score").fill(mmse)
    page.get_by_label("Caregiver’s name").fill(caregiver)


@contextmanager
def _post(page: Page) -> Iterator[Callable[[], Response]]:
    """The answer to the form's POST (before any redirect it asks for)."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and "/app/people/new" in r.url
    ) as info:
        yield lambda: info.value


def _submit_for(page: Page, noun: str = "patient") -> Response:
    with _post(page) as answer:
        page.get_by_role("button", name=f"Add the {noun}").click()
    page.wait_for_load_state()
    return answer()


def _submit(page: Page, noun: str = "patient") -> int:
    return _submit_for(page, noun).status


def _expect_error_beside(page: Page, field_id: str, message: str) -> None:
    """The message is shown, tied to its field for screen readers."""
    control = page.locator(f"#{field_id}")
    error = page.locator(f"#{field_id}-error")
    expect(error).to_have_text(message)
    expect(error).to_be_visible()
    expect(control).to_have_attribute("aria-invalid", "true")
    described_by = (control.get_attribute("aria-describedby") or "").split()
    assert f"{field_id}-error" in described_by


def _expect_shown(locator: Locator, shown: bool) -> None:
    # Hidden passes for absent too (a role not offered to this viewer).
    if shown:
        expect(locator).to_be_visible()
    else:
        expect(locator).to_be_hidden()


def _expect_only_fields_of(page: Page, role: str) -> None:
    for label in PATIENT_LABELS:
        _expect_shown(page.get_by_label(label), role == "patient")
    for label in SPECIALTY_LABELS:
        _expect_shown(_role(page, label), role == "healthpro")
    _expect_shown(
        page.get_by_text("A caregiver needs only a name and a password"), role == "caregiver"
    )
    for label in ("Name", "Password", "Password again"):
        expect(_field(page, label)).to_be_visible()


def test_anyone_may_add_a_patient_or_a_caregiver_but_not_a_health_professional(
    page: Page,
) -> None:
    page.goto("/app/people/new")
    expect(page.get_by_role("group", name="Who are you adding?")).to_be_visible()
    expect(_role(page, "Patient")).to_be_checked()
    expect(_role(page, "Caregiver")).to_be_visible()
    expect(_role(page, "Health professional")).to_have_count(0)
    expect(
        page.get_by_text("A health professional is added by a health professional")
    ).to_be_visible()
    _expect_only_fields_of(page, "patient")

    # Asking for the role by its address does not offer it either.
    answer = page.goto("/app/people/new?role=healthpro")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("alert")).to_contain_text(
        "Only a signed-in health professional may add a health professional"
    )
    expect(_role(page, "Health professional")).to_have_count(0)
    _expect_only_fields_of(page, "patient")


def test_a_health_professional_sees_three_roles_and_only_the_chosen_roles_fields(
    page: Page, accounts: Accounts, web_app: WebApp
) -> None:
    sign_in(page, accounts.general)
    page.goto("/app/people/new")
    for label in ROLE_LABELS:
        expect(_role(page, label)).to_be_visible()
    # With the script, the choice applies at once: no "Continue" to press.
    expect(page.get_by_role("button", name="Continue")).to_be_hidden()
    _expect_only_fields_of(page, "patient")

    _role(page, "Caregiver").check()
    _expect_only_fields_of(page, "caregiver")
    expect(page.get_by_role("button", name="Add the caregiver")).to_be_visible()
    _role(page, "Health professional").check()
    _expect_only_fields_of(page, "healthpro")
    expect(page).to_have_url(f"{web_app.url}/app/people/new?role=healthpro")
    screenshot(page, "people-new-healthpro")

    # The patient's fields, filled then hidden, are not sent (their fieldset is disabled).
    _role(page, "Patient").check()
    _field(page, "Age").fill("50")
    _role(page, "Health professional").check()
    name = unique_name("Dr")
    _fill_common(page, name)
    _role(page, "Psychologist").check()
    answer = _submit_for(page, "health professional")
    assert answer.status == 303
    sent = parse_qs(answer.request.post_data or "")
    assert sent["role"] == ["healthpro"] and sent["specialty"] == ["psychologist"]
    assert "age" not in sent
    expect(page.get_by_role("status")).to_have_text(f"Added {name} as a health professional.")
    assert web_app.sql(
        "SELECT h.specialty, u.status FROM healthpros h JOIN users u USING (user_id) "
        "WHERE name_key(h.name) = name_key(%(name)s)",
        {"name": name},
    ) == [("psychologist", "healthpro")]


def test_without_javascript_continue_picks_the_role(browser: Browser, web_app: WebApp) -> None:
    context = browser.new_context(base_url=web_app.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/app/people/new")
        _expect_only_fields_of(page, "patient")
        _role(page, "Caregiver").check()
        page.get_by_role("button", name="Continue").click()
        expect(page).to_have_url(f"{web_app.url}/app/people/new?role=caregiver")
        _expect_only_fields_of(page, "caregiver")
        name = unique_name("Carer")
        _fill_common(page, name)
        assert _submit(page, "caregiver") == 303
        expect(page.get_by_role("status")).to_have_text(f"Added {name} as a caregiver.")
        assert web_app.sql(
            "SELECT status FROM users WHERE name_key(name) = name_key(%(name)s)", {"name": name}
        ) == [("caregiver",)]
    finally:
        context.close()


def test_a_patient_is_added_with_their_caregiver_named_in_any_case(
    page: Page, accounts: Accounts, web_app: WebApp
) -> None:
    name = unique_name("Jeanne")
    page.goto("/app/people/new")
    _fill_patient(page, name, "81", "19", accounts.caregiver.upper())
    screenshot(page, "people-new-patient")
    assert _submit(page) == 303

    expect(page.get_by_role("status")).to_have_text(f"Added {name} as a patient.")
    # Someone not signed in may not open the patient's page: no link to it.
    expect(page.get_by_role("status").get_by_role("link")).to_have_count(0)
    expect(page).to_have_url(f"{web_app.url}/app/people/new?role=patient")
    expect(_field(page, "Name")).to_have_value("")
    assert web_app.sql(
        "SELECT p.age, p.mmse, c.name FROM patients p JOIN caregivers c "
        "ON c.user_id = p.caregiver_id WHERE name_key(p.name) = name_key(%(name)s)",
        {"name": name},
    ) == [(81, 19, accounts.caregiver)]
    # The confirmation is said once: a reload shows the empty form only.
    page.reload()
    expect(page.get_by_role("status")).to_have_count(0)


def test_a_caregiver_adding_their_patient_is_given_the_link_to_the_patients_page(
    page: Page, accounts: Accounts, web_app: WebApp
) -> None:
    sign_in(page, accounts.caregiver)
    name = unique_name("Lucien")
    page.goto("/app/people/new")
    _fill_patient(page, name, "77", "24", accounts.caregiver.lower())
    assert _submit(page) == 303
    link = page.get_by_role("status").get_by_role("link", name=f"Open {name}’s page")
    expect(link).to_have_attribute("href", f"/app/patients/{quote(name, safe='')}")
    assert _users_named(web_app, name) == 1


def test_the_apis_messages_are_shown_next_to_their_fields_and_nothing_is_written(
    page: Page, accounts: Accounts, web_app: WebApp
) -> None:
    name = unique_name("Marcel")
    page.goto("/app/people/new")
    _fill_patient(page, name, "", "31")
    assert _submit(page) == 422
    expect(page.get_by_role("alert")).to_have_text(
        "Nothing was added: correct the fields marked below, and type the password again."
    )
    _expect_error_beside(page, "field-age", "Enter the age.")
    _expect_error_beside(page, "field-mmse", "The MMSE score must be between 0 and 30.")
    # What was typed is given back, the password never.
    expect(_field(page, "Name")).to_have_value(name)
    expect(_field(page, "MMSE score")).to_have_value("31")
    expect(_field(page, "Password")).to_have_value("")
    expect(_field(page, "Name")).not_to_have_attribute("aria-invalid", "true")
    screenshot(page, "people-new-errors")
    assert _users_named(web_app, name) == 0

    # A caregiver nobody has, then someone who is not a caregiver: the same message.
    for caregiver in (f"Nobody {uuid.uuid4().hex[:8]}", accounts.other_patient):
        _fill_patient(page, name, "70", "20", caregiver)
        assert _submit(page) == 422
        _expect_error_beside(page, "field-caregiver_name", "No caregiver by that name.")
        expect(page.get_by_label("Caregiver’s name")).to_have_value(caregiver)
        assert _users_named(web_app, name) == 0

    # Two passwords that differ.
    _fill_patient(page, name, "70", "20")
    _field(page, "Password again").fill(NEW_PASSWORD + "!")
    assert _submit(page) == 422
    _expect_error_beside(
        page, "field-password_again", "The two passwords are not the same. Type it again."
    )

    # A name taken in another case: 409, beside the name.
    taken = accounts.patient.swapcase()
    _fill_patient(page, taken, "70", "20")
    assert _submit(page) == 409
    _expect_error_beside(page, "field-name", "This name is already taken (names ignore case)")
    assert _users_named(web_app, taken) == 1

    # A name the service refuses: its own message, beside the name.
    _fill_patient(page, "Bobby <Tables>", "70", "20")
    assert _submit(page) == 422
    _expect_error_beside(
        page,
        "field-name",
        "Name may contain only letters, digits, spaces and the characters - ' ’ . _.",
    )


def test_a_health_professional_posted_by_anyone_else_is_refused(
    page: Page, accounts: Accounts, web_app: WebApp
) -> None:
    # Anonymous, tampering with the page: the role and a specialty sent anyway.
    name = unique_name("Fake Dr")
    page.goto("/app/people/new")
    page.evaluate(
        """() => {
            const form = document.getElementById("people-form");
            form.querySelector('input[name="role"]').value = "healthpro";
            const specialty = document.createElement("input");
            Object.assign(specialty, {type: "hidden", name: "specialty", value: "neurologist"});
            form.append(specialty);
        }"""
    )
    _fill_common(page, name)
    assert _submit(page) == 403
    expect(page.get_by_role("alert")).to_have_text(
        "Only a signed-in health professional may add a health professional. Nothing was added."
    )
    assert _users_named(web_app, name) == 0

    # A signed-in caregiver, posting from this origin without the page.
    sign_in(page, accounts.caregiver)
    answer = page.request.post(
        "/app/people/new",
        form={
            "role": "healthpro",
            "name": name,
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
            "specialty": "neurologist",
        },
        headers={"Origin": web_app.url},
        max_redirects=0,
    )
    assert answer.status == 403
    assert "Only a signed-in health professional" in answer.text()
    assert _users_named(web_app, name) == 0


def test_the_form_fits_a_narrow_screen(page: Page, accounts: Accounts) -> None:
    page.set_viewport_size(NARROW)
    page.goto("/app/people/new")
    _fill_patient(page, unique_name("Narrow"), "", "99")
    assert _submit(page) == 422
    assert fits_width(page)
    sign_in(page, accounts.neurologist)
    page.goto("/app/people/new")
    assert fits_width(page)
    screenshot(page, "people-new-narrow")
    _role(page, "Health professional").check()
    assert fits_width(page)


def test_the_whole_form_works_with_the_keyboard(
    page: Page, accounts: Accounts, web_app: WebApp
) -> None:
    sign_in(page, accounts.neurologist)
    page.goto("/app/people/new")
    focused = lambda: page.evaluate("document.activeElement.id")  # noqa: E731
    for _ in range(20):
        page.keyboard.press("Tab")
        if focused() == "role-patient":
            break
    assert focused() == "role-patient"
    # Arrows move through a radio group and choose; Tab leaves it.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(_role(page, "Health professional")).to_be_checked()
    _expect_only_fields_of(page, "healthpro")

    name = unique_name("Keyboard")
    for field_id, text in (
        ("field-name", name),
        ("field-password", NEW_PASSWORD),
        ("field-password_again", NEW_PASSWORD),
    ):
        page.keyboard.press("Tab")
        assert focused() == field_id
        page.keyboard.type(text)
    page.keyboard.press("Tab")
    assert focused() == "specialty-general"
    page.keyboard.press("Space")
    expect(_role(page, "General practitioner")).to_be_checked()
    page.keyboard.press("ArrowDown")
    expect(_role(page, "Psychologist")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add the health professional")).to_be_focused()
    with _post(page) as answer:
        page.keyboard.press("Enter")
    assert answer().status == 303
    expect(page.get_by_role("status")).to_have_text(f"Added {name} as a health professional.")
    assert web_app.sql(
        "SELECT specialty FROM healthpros WHERE name_key(name) = name_key(%(name)s)",
        {"name": name},
    ) == [("psychologist",)]
