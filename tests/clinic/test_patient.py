"""The patient page in the browser: details, the MMSE chart and its table, the predicted
course for neurologists only, and recording an assessment (health professionals)."""

from __future__ import annotations

import datetime
import re
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, Page, expect

from docmemo.clinic.charts import format_day
from tests.clinic.browser import (
    NARROW,
    Accounts,
    WebApp,
    assert_accessible,
    fits_width,
    screenshot,
    sign_in,
    submit_form,
)
from tests.helpers import unique_name


def _open(page: Page, name: str):
    return page.goto(f"/app/patients/{quote(name)}")


def _points(page: Page) -> Locator:
    return page.locator("svg.history-chart .history-chart__points circle")


def _rows(page: Page) -> Locator:
    return page.locator("table.patient-visits tbody tr")


def _user_id(web_app: WebApp, name: str) -> str:
    [(user_id,)] = web_app.sql("SELECT user_id FROM users WHERE name = %(name)s", {"name": name})
    return user_id


def _assessments(web_app: WebApp, name: str) -> list[tuple[datetime.date, int]]:
    return web_app.sql(
        "SELECT a.assessed_at, a.mmse FROM assessments a JOIN users u ON u.user_id = a.patient_id"
        " WHERE u.name = %(name)s ORDER BY a.assessed_at, a.assessment_id",
        {"name": name},
    )


def _predictions_by(web_app: WebApp, actor_id: str) -> int:
    [(count,)] = web_app.sql(
        "SELECT count(*) FROM audit_events WHERE actor_id = %(id)s AND action = 'predict'",
        {"id": actor_id},
    )
    return count


@pytest.fixture(scope="module")
def long_history(web_app: WebApp) -> str:
    """A generated patient with five visits or more over at least two years."""
    [(name,)] = web_app.sql(
        "SELECT u.name FROM users u JOIN assessments a ON a.patient_id = u.user_id"
        " GROUP BY u.name HAVING count(*) >= 5 AND max(assessed_at) - min(assessed_at) > 730"
        " ORDER BY u.name LIMIT 1"
    )
    return name


def test_a_health_professional_records_an_assessment_and_the_chart_changes(
    page: Page, accounts: Accounts, web_app: WebApp
) -> None:
    sign_in(page, accounts.general)
    _open(page, accounts.patient)
    expect(page.get_by_role("heading", name=accounts.patient, level=1)).to_be_visible()
    expect(page.locator("#caregiver")).to_contain_text(accounts.caregiver)
    points, rows = _points(page).count(), _rows(page).count()
    assert points == rows == len(_assessments(web_app, accounts.patient)) >= 1
    current = int(page.locator("#current-mmse .patient-score").inner_text())
    new_score = 19 if current != 19 else 18

    # Today's assessment, by default: the current score becomes it. Sent with Enter.
    today = datetime.date.today()
    expect(page.get_by_label("Date of the assessment")).to_have_value(today.isoformat())
    page.get_by_label("MMSE score").fill(str(new_score))
    page.get_by_label("MMSE score").press("Enter")
    expect(page.get_by_role("status")).to_have_text(
        f"Assessment recorded: MMSE {new_score} on {format_day(today)}."
    )
    assert "recorded=" in page.url
    expect(_points(page)).to_have_count(points + 1)
    expect(_rows(page)).to_have_count(rows + 1)
    expect(page.locator("#current-mmse .patient-score")).to_have_text(str(new_score))
    expect(page.locator("#current-mmse")).to_contain_text(
        "impairment" if new_score < 24 else "normal"
    )
    expect(_rows(page).first).to_contain_text(str(new_score))
    expect(_rows(page).first).to_contain_text(accounts.general)
    expect(page.locator("#history-chart-desc")).to_contain_text(f"{rows + 1} visits")

    # A back-dated one: one more point, earlier than the others; the current score stays.
    page.get_by_label("MMSE score").fill("27")
    page.get_by_label("Date of the assessment").fill("2024-02-10")
    page.get_by_role("button", name="Record").click()
    expect(page.get_by_role("status")).to_have_text(
        "Assessment recorded: MMSE 27 on 10 February 2024."
    )
    expect(_points(page)).to_have_count(points + 2)
    expect(_rows(page)).to_have_count(rows + 2)
    expect(page.locator("#current-mmse .patient-score")).to_have_text(str(new_score))
    expect(_points(page).first).to_have_attribute("data-mmse", "27")
    expect(_rows(page).last).to_contain_text("10 Feb 2024")
    stored = _assessments(web_app, accounts.patient)
    assert stored[0] == (datetime.date(2024, 2, 10), 27)
    assert (today, new_score) in stored
    [(recorder,)] = web_app.sql(
        "SELECT r.name FROM assessments a JOIN users r ON r.user_id = a.recorded_by"
        " JOIN users p ON p.user_id = a.patient_id"
        " WHERE p.name = %(name)s AND a.assessed_at = '2024-02-10'",
        {"name": accounts.patient},
    )
    assert recorder == accounts.general
    assert_accessible(page)
    screenshot(page, "patient-general")


@pytest.mark.parametrize(
    ("mmse", "message"),
    [
        ("31", "The MMSE score must be between 0 and 30."),
        ("abc", "The MMSE score must be a whole number, like 1."),
        ("", "Enter the MMSE score."),
    ],
)
def test_an_invalid_score_is_explained_beside_its_field_and_nothing_is_recorded(
    page: Page, accounts: Accounts, web_app: WebApp, mmse: str, message: str
) -> None:
    sign_in(page, accounts.psychologist)
    _open(page, accounts.patient)
    before = _assessments(web_app, accounts.patient)
    points = _points(page).count()
    field = page.get_by_label("MMSE score")
    field.fill(mmse)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Record").click()
    assert answer.value.status == 422
    expect(page.locator("#field-mmse-error")).to_have_text(message)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", re.compile("field-mmse-error"))
    expect(field).to_have_value(mmse)
    expect(field).to_be_focused()  # to correct it straight away, from the keyboard
    expect(page.locator("#record-errors")).to_contain_text("Nothing was recorded")
    expect(page.locator("#field-assessed_at-error")).to_have_count(0)
    # The rest of the page is still there, unchanged.
    expect(_points(page)).to_have_count(points)
    assert _assessments(web_app, accounts.patient) == before
    if mmse == "abc":
        assert_accessible(page)
        screenshot(page, "patient-invalid")


def test_a_date_in_the_future_is_refused_beside_the_date(
    page: Page, accounts: Accounts, web_app: WebApp
) -> None:
    sign_in(page, accounts.general)
    _open(page, accounts.patient)
    before = _assessments(web_app, accounts.patient)
    page.get_by_label("MMSE score").fill("20")
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    page.get_by_label("Date of the assessment").fill(tomorrow.isoformat())
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Record").click()
    assert answer.value.status == 422
    expect(page.locator("#field-assessed_at-error")).to_contain_text("must not be in the future")
    expect(page.locator("#field-mmse-error")).to_have_count(0)
    expect(page.get_by_label("MMSE score")).to_have_value("20")
    expect(page.get_by_label("Date of the assessment")).to_be_focused()
    assert _assessments(web_app, accounts.patient) == before


def test_a_neurologist_sees_the_predicted_course_ahead_of_the_last_visit(
    page: Page, accounts: Accounts, web_app: WebApp, long_history: str
) -> None:
    neurologist_id = _user_id(web_app, accounts.neurologist)
    sign_in(page, accounts.neurologist)
    before = _predictions_by(web_app, neurologist_id)
    _open(page, long_history)
    prediction = page.locator("svg.history-chart g.history-chart-prediction")
    expect(prediction).to_be_visible()
    expect(prediction.locator("path.history-chart-prediction__band95")).to_have_count(1)
    expect(prediction.locator("path.history-chart-prediction__band80")).to_have_count(1)
    expect(prediction.locator("polyline.history-chart-prediction__mean")).to_have_count(1)
    headline = page.locator("#prediction-headline")
    expect(headline).to_contain_text("Predicted MMSE in 12 months")
    expect(headline).to_contain_text(re.compile(r"80 % interval \d+(\.\d)?–\d+(\.\d)?"))
    [(version,)] = web_app.sql(
        "SELECT version FROM progression_models ORDER BY fitted_at DESC, model_id DESC LIMIT 1"
    )
    expect(page.locator(".patient-prediction")).to_contain_text(f"Model {version}")
    expect(page.locator(".patient-prediction__table tbody tr")).to_have_count(5)
    expect(page.locator("#history-chart-desc")).to_contain_text("Predicted MMSE in 12 months")
    # The bands start where the last visit is drawn.
    last_x = float(_points(page).last.get_attribute("cx"))
    band = prediction.locator("path.history-chart-prediction__band95").get_attribute("d")
    start_x = float(re.match(r"M(-?[\d.]+),", band).group(1))
    assert start_x == pytest.approx(last_x, abs=0.11)
    # One page view, one prediction in the audit trail.
    assert _predictions_by(web_app, neurologist_id) == before + 1
    screenshot(page, "patient-neurologist")


@pytest.mark.parametrize("who", ["general", "psychologist", "caregiver", "patient"])
def test_no_one_else_sees_a_prediction_nor_makes_one(
    page: Page, accounts: Accounts, web_app: WebApp, who: str
) -> None:
    viewer = getattr(accounts, who)
    sign_in(page, viewer)
    _open(page, accounts.patient)
    expect(page.get_by_role("heading", name=accounts.patient, level=1)).to_be_visible()
    expect(page.locator("svg.history-chart")).to_be_visible()
    expect(_points(page).first).to_be_visible()
    expect(page.locator(".history-chart-prediction")).to_have_count(0)
    expect(page.locator(".patient-prediction")).to_have_count(0)
    expect(page.get_by_text("Predicted")).to_have_count(0)
    # Not drawn, and not computed either: nothing filed as a prediction by them.
    assert _predictions_by(web_app, _user_id(web_app, viewer)) == 0
    # Only health professionals get the form.
    form = page.get_by_role("heading", name="Record an assessment")
    expect(form).to_have_count(1 if who in ("general", "psychologist") else 0)


def test_a_caregiver_sees_their_patient_and_not_another(
    page: Page, accounts: Accounts, web_app: WebApp
) -> None:
    sign_in(page, accounts.caregiver)
    answer = _open(page, accounts.patient.upper())  # a name ignores case
    assert answer.status == 200
    expect(page.get_by_role("heading", name=accounts.patient, level=1)).to_be_visible()
    # Their own name, as a link (to find them): they may read their own record.
    expect(page.locator("#caregiver").get_by_role("link", name=accounts.caregiver)).to_be_visible()
    answers = []
    for name in (accounts.other_patient, unique_name("Nobody")):
        answer = _open(page, name)
        answers.append((answer.status, page.locator("main").inner_text()))
        expect(page.get_by_role("heading", name="Not found", level=1)).to_be_visible()
        expect(page.locator("main")).to_contain_text("No such patient, or none you may see")
        expect(page.locator("main")).to_contain_text("not something you may see")
        expect(page.get_by_role("link", name="Back to the start page")).to_be_visible()
    # Someone else's patient and nobody at all: the same page, nothing to tell them apart.
    assert answers[0] == answers[1] and answers[0][0] == 404


def test_a_patient_sees_their_caregiver_without_a_link(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.patient)
    _open(page, accounts.patient)
    expect(page.locator("#caregiver")).to_have_text(accounts.caregiver)
    expect(page.locator("#caregiver a")).to_have_count(0)


@pytest.mark.parametrize("who", ["caregiver", "patient"])
def test_a_non_professional_sending_an_assessment_gets_the_forbidden_page(
    page: Page, accounts: Accounts, web_app: WebApp, who: str
) -> None:
    sign_in(page, getattr(accounts, who))
    path = f"/app/patients/{quote(accounts.patient)}"
    _open(page, accounts.patient)
    before = _assessments(web_app, accounts.patient)
    # The form they are not shown, sent from the page as a browser would.
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        submit_form(page, f"{path}/assessments", {"mmse": "12", "assessed_at": "2025-01-05"})
    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="This page is not for your role")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Only health professionals may record")
    assert _assessments(web_app, accounts.patient) == before


def test_the_page_fits_a_narrow_screen_with_readable_labels(
    page: Page, accounts: Accounts, long_history: str
) -> None:
    page.set_viewport_size(NARROW)
    sign_in(page, accounts.neurologist)
    _open(page, long_history)
    chart = page.locator("svg.history-chart")
    expect(chart.locator("g.history-chart-prediction")).to_be_visible()
    assert fits_width(page)
    box = chart.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"]
    # Labels drawn at about half size would be unreadable: the style sheet enlarges them
    # and keeps every other one.
    label = chart.locator(".history-chart-axis--y .tick:not(.tick--minor) text").first
    assert label.bounding_box()["height"] >= 10
    expect(chart.locator(".history-chart-axis--y .tick--minor text").first).to_be_hidden()
    expect(page.get_by_label("MMSE score")).to_be_visible()
    # The visits and the predicted course fit too, without scrolling sideways.
    tables = page.locator(".patient__history .table-wrap")
    expect(tables).to_have_count(2)
    for n in range(2):
        assert tables.nth(n).evaluate("el => el.scrollWidth <= el.clientWidth")
    screenshot(page, "patient-narrow")


def test_odd_input_is_explained_never_a_server_error(
    page: Page, accounts: Accounts, web_app: WebApp
) -> None:
    sign_in(page, accounts.general)
    for name, status in (("<script>", 422), ("x" * 5000, 422), (accounts.caregiver, 404)):
        answer = page.request.get(f"/app/patients/{quote(name)}")
        assert answer.status == status, name
        assert "text/html" in answer.headers["content-type"]
    answer = page.request.get(f"/app/patients/{quote(accounts.patient)}?recorded=%00'")
    assert answer.status == 200
    before = _assessments(web_app, accounts.patient)
    path = f"/app/patients/{quote(accounts.patient)}/assessments"
    for day, message in (
        ("1899-12-31", "assessed_at must not be before 1900-01-01"),
        ("0000-01-01", "Enter the date as year-month-day"),
        ("2026-13-45", "Enter the date as year-month-day"),
        ("14/03/2026", "Enter the date as year-month-day"),
        ("", "Enter the date of the assessment."),
    ):
        answer = page.request.post(path, form={"mmse": "20", "assessed_at": day})
        assert answer.status == 422, day
        assert message in answer.text(), day
    answer = page.request.post(path, form={"mmse": "9" * 5000, "assessed_at": "2026-01-01"})
    assert answer.status == 422
    assert _assessments(web_app, accounts.patient) == before
