"""The cohort page in the browser: the chart of current MMSE by age band, and the
over/under counts following the controls, equal to what the API's /count_over and
/count_under answer for the same parameters."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, Page, expect

from docmemo.clinic.cohort_chart import row_centre
from docmemo.db.models import MAX_AGE
from docmemo.stats.service import AGE_BAND_STARTS
from tests.clinic.browser import NARROW, Accounts, WebApp, fits_width, screenshot, sign_in


def api_count(page: Page, which: str, mmse: int, min_age: int | None, max_age: int | None) -> int:
    params = {k: v for k, v in {"min_age": min_age, "max_age": max_age}.items() if v is not None}
    response = page.request.get(f"/count_{which}/{mmse}", params=params)
    assert response.ok, response.text()
    return response.json()["count"]


def expect_counts_of_the_api(
    page: Page, mmse: int, min_age: int | None = None, max_age: int | None = None
) -> tuple[int, int]:
    """The page shows (and keeps showing) what the API answers for these parameters."""
    over = api_count(page, "over", mmse, min_age, max_age)
    under = api_count(page, "under", mmse, min_age, max_age)
    expect(page.locator("#count-over")).to_have_text(f"{over:,}")
    expect(page.locator("#count-under")).to_have_text(f"{under:,}")
    status = page.get_by_role("status")
    expect(status).to_contain_text(f"with MMSE over {mmse}")
    expect(status).to_contain_text(f"with MMSE under {mmse}")
    return over, under


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_the_controls_change_the_counts_to_what_the_api_says_without_submitting(
    page: Page,
) -> None:
    page.goto("/app/cohort")
    expect(page.get_by_role("heading", name="Cohort", exact=True)).to_be_visible()
    # The page is public: nobody is signed in.
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    slider = page.get_by_role("slider", name="MMSE threshold")
    expect(slider).to_have_value("24")
    expect_counts_of_the_api(page, 24)
    # With the script there is nothing to submit: the numbers follow the controls.
    expect(page.get_by_role("button", name="Show the counts")).to_be_hidden()
    # A mark on this document: still there at the end, so no page was loaded again.
    page.evaluate("window.cohortMark = 'same page'")

    slider.focus()
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    expect(slider).to_have_value("20")
    expect(page.locator("#threshold-value")).to_have_text("20")
    expect_counts_of_the_api(page, 20)

    page.get_by_label("Youngest age").fill("60")
    expect_counts_of_the_api(page, 20, 60)
    page.get_by_label("Oldest age").press_sequentially("80")
    over, under = expect_counts_of_the_api(page, 20, 60, 80)
    assert over > 0 and under > 0
    expect(page.get_by_role("status")).to_contain_text("aged 60 to 80")

    slider.press("ArrowRight")
    slider.press("End")
    expect(slider).to_have_value("30")
    assert expect_counts_of_the_api(page, 30, 60, 80)[0] == 0  # nobody scores over 30

    slider.press("Home")
    assert expect_counts_of_the_api(page, 0, 60, 80)[1] == 0  # nor under 0
    for _ in range(18):
        slider.press("ArrowRight")
    expect_counts_of_the_api(page, 18, 60, 80)

    # The address follows, so that it can be shared.
    expect(page).to_have_url(re.compile(r"/app/cohort\?mmse=18&min_age=60&max_age=80$"))
    assert page.evaluate("window.cohortMark") == "same page"
    screenshot(page, "cohort")

    # Emptying a bound drops it from the counts and from the address.
    page.get_by_label("Youngest age").fill("")
    expect_counts_of_the_api(page, 18, None, 80)
    expect(page.get_by_role("status")).to_contain_text("aged 80 or under")
    expect(page).to_have_url(re.compile(r"/app/cohort\?mmse=18&max_age=80$"))


def test_the_chart_marks_the_threshold_and_fades_the_ages_left_out(page: Page) -> None:
    page.goto("/app/cohort?mmse=20&min_age=60&max_age=80")
    line = page.locator("#cohort-threshold")
    expect(line).to_have_attribute("y1", str(row_centre(20)))

    def check_bars(threshold: int) -> None:
        for state, keep in (
            ("is-over", lambda m: m > threshold),
            ("is-at", lambda m: m == threshold),
            ("is-under", lambda m: m < threshold),
        ):
            scores = page.locator(f".cohort-bar.{state}").evaluate_all(
                "bars => bars.map(bar => Number(bar.dataset.mmse))"
            )
            assert all(keep(m) for m in scores), (state, scores)
        assert page.locator(".cohort-bar.is-over").count() > 0

    check_bars(20)
    # Wholly outside 60-80: the bands up to 54, and 85 and over.
    faded = page.locator(".cohort-column.is-outside").evaluate_all(
        "columns => columns.map(column => Number(column.dataset.youngest))"
    )
    assert faded == [0, 25, 35, 45, 85]

    page.get_by_role("slider", name="MMSE threshold").press("PageUp")
    new_threshold = int(page.get_by_role("slider", name="MMSE threshold").input_value())
    assert new_threshold > 20
    expect(line).to_have_attribute("y1", str(row_centre(new_threshold)))
    check_bars(new_threshold)
    page.get_by_label("Oldest age").fill("")
    expect(page.locator(".cohort-column.is-outside")).to_have_count(4)


def test_the_chart_has_its_numbers_as_a_table(page: Page, web_app: WebApp) -> None:
    page.goto("/app/cohort")
    chart = page.get_by_role("img", name=re.compile(r"Current MMSE of [\d,]+ patients"))
    expect(chart).to_be_visible()
    expect(chart).to_have_accessible_description(re.compile("One column per age band"))
    page.get_by_text("The chart's numbers as a table").click()
    table = page.get_by_role("table")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(len(AGE_BAND_STARTS))

    def number(text: str) -> int:
        return int(text.replace(",", ""))

    # Each band from the registry itself, and the totals from the API's /status.
    for index, start in enumerate(AGE_BAND_STARTS):
        end = AGE_BAND_STARTS[index + 1] - 1 if index + 1 < len(AGE_BAND_STARTS) else MAX_AGE
        [(severe, moderate, mild, normal)] = web_app.sql(
            """SELECT count(*) FILTER (WHERE mmse <= 9),
                      count(*) FILTER (WHERE mmse BETWEEN 10 AND 17),
                      count(*) FILTER (WHERE mmse BETWEEN 18 AND 23),
                      count(*) FILTER (WHERE mmse >= 24)
               FROM patients WHERE age BETWEEN %(start)s AND %(end)s""",
            {"start": start, "end": end},
        )
        cells = [number(t) for t in rows.nth(index).locator("td").all_inner_texts()]
        assert cells == [severe, moderate, mild, normal, severe + moderate + mild + normal]
    patients = page.request.get("/status").json()["database"]["patients"]
    total = table.locator("tfoot td").last.inner_text()
    assert number(total) == patients
    expect(chart).to_have_accessible_name(f"Current MMSE of {patients:,} patients, by age band")


def test_a_shared_address_shows_its_counts_from_the_server(page: Page) -> None:
    response = page.goto("/app/cohort?mmse=20&min_age=60&max_age=80")
    assert response is not None and response.status == 200
    expect(page.get_by_role("slider", name="MMSE threshold")).to_have_value("20")
    expect(page.get_by_label("Youngest age")).to_have_value("60")
    expect(page.get_by_label("Oldest age")).to_have_value("80")
    expect_counts_of_the_api(page, 20, 60, 80)
    expect(page.get_by_role("status")).to_contain_text("aged 60 to 80")


def test_the_form_works_without_javascript(browser: Browser, web_app: WebApp) -> None:
    context = browser.new_context(base_url=web_app.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/app/cohort?mmse=20&min_age=60&max_age=80")
        expect_counts_of_the_api(page, 20, 60, 80)
        page.get_by_label("Youngest age").fill("70")
        page.get_by_label("Oldest age").fill("")
        page.get_by_role("slider", name="MMSE threshold").fill("12")
        page.get_by_role("button", name="Show the counts").click()
        expect(page).to_have_url(re.compile(r"mmse=12"))
        assert query_of(page) == {"mmse": ["12"], "min_age": ["70"]}
        expect_counts_of_the_api(page, 12, 70)
        expect(page.get_by_role("status")).to_contain_text("aged 70 or over")
    finally:
        context.close()


def test_bounds_in_the_wrong_order_show_the_message_and_ask_nothing(page: Page) -> None:
    page.goto("/app/cohort")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.get_by_label("Youngest age").fill("80")
    expect_counts_of_the_api(page, 24, 80)
    oldest = page.get_by_label("Oldest age")
    oldest.press_sequentially("60")
    message = page.locator("#field-max_age-error")
    expect(message).to_have_text("The oldest age must not be below the youngest age.")
    expect(oldest).to_have_attribute("aria-invalid", "true")
    expect(oldest).to_have_attribute("aria-describedby", re.compile("field-max_age-error"))
    # No number stays on screen that would not be the count of what the fields say.
    expect(page.locator("#count-over")).to_have_text("–")
    expect(page.get_by_role("status")).to_contain_text("No counts until the values are corrected")
    screenshot(page, "cohort-invalid")
    # Nothing was asked with the bounds the wrong way round (80 > 6, 80 > 60).
    assert not [url for url in asked if "max_age=6" in url], asked

    oldest.fill("90")
    expect(message).to_have_count(0)
    expect(oldest).not_to_have_attribute("aria-invalid", "true")
    expect_counts_of_the_api(page, 24, 80, 90)

    page.get_by_label("Youngest age").fill("200")
    expect(page.locator("#field-min_age-error")).to_have_text(
        "The youngest age must be between 0 and 130."
    )


def test_wrong_values_in_the_address_are_explained_beside_their_fields(page: Page) -> None:
    response = page.goto("/app/cohort?mmse=31&min_age=80&max_age=60")
    assert response is not None and response.status == 422
    expect(page.locator("#field-mmse-error")).to_have_text(
        "The MMSE threshold must be between 0 and 30."
    )
    expect(page.locator("#field-max_age-error")).to_have_text(
        "The oldest age must not be below the youngest age."
    )
    expect(page.get_by_role("status")).to_contain_text("No counts until the values are corrected")
    # The chart is still there, and the values typed are given back to be corrected.
    expect(page.get_by_role("img", name=re.compile("Current MMSE of"))).to_be_visible()
    expect(page.get_by_label("Oldest age")).to_have_value("60")

    response = page.goto("/app/cohort?min_age=ten&max_age=-1")
    assert response is not None and response.status == 422
    expect(page.locator("#field-min_age-error")).to_have_text(
        "The youngest age must be a whole number, like 1."
    )
    expect(page.locator("#field-max_age-error")).to_have_text(
        "The oldest age must be between 0 and 130."
    )
    # Corrected in place, the counts come back without reloading.
    page.get_by_label("Youngest age").fill("65")
    page.get_by_label("Oldest age").fill("75")
    expect_counts_of_the_api(page, 24, 65, 75)
    expect(page.locator("#field-min_age-error")).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_count(0)


def test_the_page_reads_at_360_px(page: Page) -> None:
    page.set_viewport_size(NARROW)
    page.goto("/app/cohort?mmse=20&min_age=60&max_age=80")
    chart = page.get_by_role("img", name=re.compile("Current MMSE of"))
    expect(chart).to_be_visible()
    assert fits_width(page)
    box = chart.bounding_box()
    assert box is not None and box["width"] <= NARROW["width"]
    slider = page.get_by_role("slider", name="MMSE threshold")
    slider.press("ArrowDown")
    expect_counts_of_the_api(page, 19, 60, 80)
    page.get_by_text("The chart's numbers as a table").click()
    expect(page.get_by_role("table")).to_be_visible()
    assert fits_width(page)
    # The table too, without scrolling sideways inside its box.
    assert page.locator(".cohort-table .table-wrap").evaluate(
        "wrap => wrap.scrollWidth <= wrap.clientWidth"
    )
    screenshot(page, "cohort-narrow")


def test_the_header_shows_who_is_signed_in(page: Page, accounts: Accounts) -> None:
    sign_in(page, accounts.caregiver)
    page.get_by_role("link", name="Cohort").click()
    expect(page).to_have_url(re.compile("/app/cohort$"))
    expect(page.get_by_text(f"Signed in as {accounts.caregiver}")).to_be_visible()
    expect(page.get_by_role("link", name="Cohort")).to_have_attribute("aria-current", "page")
    expect_counts_of_the_api(page, 24)
