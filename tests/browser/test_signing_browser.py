"""Signing a casebook in a real headless Chromium (Debian's), driven by Playwright's sync API.

An investigator logs in, opens a patient, presses "Sign casebook", reads the 21 CFR 11.50
manifestation (printed name, date and time, meaning), signs with the password and sees the
signature on the patient page. Screenshots go to test-artifacts/ (gitignored). Skipped when
/usr/bin/chromium is missing, unless REGISTRY_REQUIRE_SERVICES=1, where that fails the run.
"""

import pytest

from registry.signatures.models import Signature
from tests.browser.test_reports_browser import ARTIFACTS, browser  # noqa: F401 (the fixture)
from tests.factories import PASSWORD, CenterFactory, PatientFactory, UserFactory, relapsed_course

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(chromium, live_server, username):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")  # submits the login form, whatever else the page holds
    page.wait_for_load_state()
    return page


def test_an_investigator_signs_a_casebook_with_the_password(browser, live_server):  # noqa: F811
    patient = relapsed_course(PatientFactory(center=CenterFactory(code="TKY01"), study_id="MLL96-0001"))
    investigator = UserFactory(username="investigator", role="INVESTIGATOR", first_name="Keiko", last_name="Tanaka")
    page = log_in(browser, live_server, "investigator")

    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    assert page.get_by_role("heading", name="Electronic signatures").is_visible()
    assert page.get_by_text("Not signed yet.").is_visible()
    page.get_by_role("link", name="Sign casebook").click()
    page.wait_for_load_state()

    assert page.get_by_role("heading", name="Sign casebook MLL96-0001").is_visible()
    assert page.locator("#printed-name").inner_text() == "Keiko Tanaka"
    page.get_by_label("approved").check()
    page.get_by_label("Password").fill(PASSWORD)
    page.screenshot(path=str(ARTIFACTS / "signing-form.png"), full_page=True)
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_load_state()

    assert page.url == f"{live_server.url}/patients/{patient.pk}/"
    signature = Signature.objects.get()
    assert (signature.signer, signature.meaning, signature.printed_name) == (investigator, "approved", "Keiko Tanaka")
    row = page.locator("#signatures-table-casebook tbody tr")
    assert row.count() == 1
    text = row.inner_text()
    assert "Keiko Tanaka" in text and f"{signature.signed_at:%Y-%m-%d %H:%M:%S} UTC" in text
    assert "approved" in text and "valid" in text and "INVALIDATED" not in text
    assert page.get_by_role("status").inner_text().startswith("Signed casebook MLL96-0001 as Keiko Tanaka")
    page.screenshot(path=str(ARTIFACTS / "signed-casebook.png"), full_page=True)
