"""The report pages in a real headless Chromium (Debian's), driven by Playwright's sync API.

An investigator logs in, opens the dashboard and the report, changes the trial filter, downloads
a CSV, starts a recompute and watches the progress bar finish while the new report is swapped in
without a reload; a coordinator gets no report of other centers. Screenshots go to
test-artifacts/ (gitignored). Skipped when /usr/bin/chromium is missing, unless
REGISTRY_REQUIRE_SERVICES=1, where that fails the run.
"""

import os
from pathlib import Path

import pytest
from django.db import connections

from analysis.analyses import REPORT_ANALYSES
from tests.analysis.report_data import compute_report, registry_cohort
from tests.factories import PASSWORD, CenterFactory, UserFactory

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _unavailable(reason):
    if os.getenv("REGISTRY_REQUIRE_SERVICES") == "1":
        pytest.fail(f"REGISTRY_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser(monkeypatch):
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (requirements/dev.txt)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test
    # itself are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
        # Inside Playwright's block the test's ORM calls open a database connection of their own
        # (another context than pytest-django's): closed here, or it outlives the test database.
        connections.close_all()


@pytest.fixture
def cohort():
    tokyo = CenterFactory(code="TKY01", name="Tokyo Children's Hospital")
    osaka = CenterFactory(code="OSK02", name="Osaka Medical Center")
    registry_cohort(6, center=tokyo)
    registry_cohort(4, center=osaka, trial_code="MLL98", start=6)
    return tokyo, osaka


def log_in(browser, live_server, username):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    return page


def test_an_investigator_reads_filters_downloads_and_recomputes(browser, live_server, cohort):
    UserFactory(username="investigator", role="INVESTIGATOR")
    compute_report()
    page = log_in(browser, live_server, "investigator")

    page.goto(live_server.url + "/reports/")
    assert page.get_by_role("heading", name="Study dashboard").is_visible()
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    page.get_by_role("link", name="Outcome report").first.click()
    page.wait_for_load_state("networkidle")
    assert page.locator("caption", has_text="Table 1. Patient characteristics").is_visible()
    assert page.locator("img[src*='os_overall.svg']").evaluate("img => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("#table-table1").get_by_role("link", name="CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("Table 1. Patient characteristics") and "Source: analysis run" in text

    page.select_option("select[name=trial]", "MLL96")
    page.get_by_role("button", name="Show report").click()
    page.wait_for_load_state()
    assert "trial=MLL96" in page.url
    assert page.get_by_text("No stored results for MLL96, all centers yet.").is_visible()

    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Compute this report").click()
    progress = page.locator("#progress")
    progress.wait_for(state="visible")
    page.screenshot(path=str(ARTIFACTS / "report-recomputing.png"))
    page.wait_for_selector("#progress.done", timeout=120_000)
    n = len(REPORT_ANALYSES)
    assert f"{n} of {n} analyses computed" in progress.inner_text()
    assert page.locator("#progress progress").evaluate("bar => bar.value === bar.max")
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#report-body caption", has_text="Table 1.").is_visible()
    assert page.get_by_text("6 patients (MLL96, all centers)").first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "report-recomputed.png"))


def test_a_coordinator_gets_no_report_of_other_centers(browser, live_server, cohort):
    tokyo, _ = cohort
    UserFactory(username="coord", role="COORDINATOR", center=tokyo)
    compute_report()
    page = log_in(browser, live_server, "coord")
    response = page.goto(live_server.url + "/reports/outcomes/?center=OSK02")
    assert response.status == 403
    response = page.goto(live_server.url + "/reports/outcomes/")
    assert response.status == 403
    page.goto(live_server.url + "/reports/")
    assert "OSK02" not in page.content() and "TKY01" in page.content()
    assert page.get_by_role("link", name="Outcome report").count() == 0
    page.screenshot(path=str(ARTIFACTS / "dashboard-coordinator.png"), full_page=True)
