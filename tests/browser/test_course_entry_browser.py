"""A paper form's whole course entered keyboard-only in a real headless Chromium (Debian's).

A coordinator starts on the patient list and, with the keyboard alone (focus, typing, Tab,
Shift+Tab, Enter, Esc: no mouse), registers a patient and enters the course of the paper form:
CR1, relapse, a salvage line, an HSCT and death at follow-up, each event in place on the
patient page with "save and add next". Full page loads are counted (at most 3: the list, the
registration form, the patient page); each event is then checked in the database. Skipped when
/usr/bin/chromium is missing, unless REGISTRY_REQUIRE_SERVICES=1, where that fails the run.
"""

from datetime import date

import pytest

from registry.models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant
from tests.browser.test_reports_browser import ARTIFACTS, browser  # noqa: F401 (the fixture)
from tests.factories import PASSWORD, CenterFactory, UserFactory, trial

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_PAGE_LOADS = 3


def log_in(chromium, live_server, username):
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")  # the login form's own submit, not the language switch
    page.wait_for_load_state()
    return page


def focused(page, attribute="name"):
    return page.evaluate(f"document.activeElement.getAttribute('{attribute}')")


def fill_fields(page, values):
    """Type each value into the focused field, then Tab to the next ('' skips one)."""
    for value in values:
        if value:
            page.keyboard.type(value)
        page.keyboard.press("Tab")


def open_in_place(page, kind):
    page.focus(f"#course-section a[data-in-place][href$='/{kind}/new/']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#course-form form")


def test_a_coordinator_enters_a_whole_course_keyboard_only(browser, live_server):  # noqa: F811
    mll98 = trial("MLL98")
    UserFactory(username="coordinator", role="COORDINATOR", center=CenterFactory(code="TKY01"))
    page = log_in(browser, live_server, "coordinator")
    loads = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and loads.append(frame.url))

    # 1. The patient list; "Register a patient" by keyboard.
    page.goto(live_server.url + "/")
    page.focus("a[href='/patients/new/']")
    page.keyboard.press("Enter")
    page.wait_for_selector("form.record.two-columns")

    # 2. Registration: two columns, Save visible at 1280 x 800 without scrolling.
    assert focused(page) == "study_id"
    save = page.locator("form.record button[type=submit]").first
    assert save.bounding_box()["y"] + save.bounding_box()["height"] <= 800
    page.keyboard.press("Tab")
    page.keyboard.type("MLL98")  # the trial (type-ahead in the list) ...
    page.keyboard.press("Shift+Tab")
    assert page.input_value("#id_study_id") == "MLL98-0001"  # ... suggests its next free study ID
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    fill_fields(page, ["1999-05-20", "Male", "1999-03-01", "1999-05-18"])
    assert "Age at diagnosis: 78 days" in page.inner_text("#age-at-diagnosis")
    fill_fields(page, ["320.5", "CNS3", "Pro-B", "Poor", "AF4", "Southern"])
    page.keyboard.press("Enter")  # on Save
    page.wait_for_selector("#course-section")

    # 3. The patient page: the whole course in place, each "save" opening the next event.
    patient = Patient.objects.get()
    open_in_place(page, "first-line")
    assert focused(page) == "outcome"
    fill_fields(page, ["Complete", "1999-06-22"])
    assert page.inner_text(".day-count[data-for=id_assessment_date]") == "day 35 after diagnosis"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # Enter in the date saves and adds the next event

    page.wait_for_selector("#course-form input[name=relapse_date]")
    assert focused(page) == "relapse_date"
    assert FirstLineResponse.objects.filter(patient=patient).exists()
    fill_fields(page, ["1999-12-01", "Isolated b"])
    page.keyboard.press("Enter")  # on "Save and add salvage line"

    page.wait_for_selector("#course-form input[name=start_date]")
    assert focused(page) == "regimen"
    fill_fields(page, ["FLAG", "fludarabine, cytarabine", "1999-13-45"])
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # an impossible date: the form comes back with the error
    page.wait_for_selector("#course-form #id_start_date_error")
    assert focused(page) == "start_date"  # focus on the first field in error
    assert not SalvageLine.objects.exists()
    page.keyboard.press("Control+A")
    fill_fields(page, ["1999-12-05", "Complete", "2000-01-20"])
    page.keyboard.press("Enter")

    page.wait_for_selector("#course-form input[name=transplant_date]")
    fill_fields(page, ["2000-03-01", "Allo", "Matched s", "Bone", "TBI", "Myelo", "Second"])
    page.keyboard.press("Enter")

    page.wait_for_selector("#course-form input[name=contact_date]")
    page.keyboard.press("Escape")  # Esc cancels the form in place ...
    assert page.locator("#course-form form").count() == 0
    open_in_place(page, "follow-up")  # ... and it opens again by keyboard
    assert focused(page) == "contact_date"
    fill_fields(page, ["2000-09-10", "Dead", "2000-09-10", "Leuk", "", ""])
    page.keyboard.press("Enter")  # on Save: the follow-up ends the course
    page.wait_for_selector("#course-form form", state="detached")
    assert "Follow-up added" in page.inner_text("#course-saved")
    page.screenshot(path=str(ARTIFACTS / "course-entered.png"), full_page=True)

    assert len(loads) <= MAX_PAGE_LOADS, loads
    timeline = page.inner_text("#course-section .timeline")
    for day in ["1999-06-22", "1999-12-01", "1999-12-05", "2000-03-01", "2000-09-10"]:
        assert day in timeline

    # Each event saved with the paper form's values.
    patient.refresh_from_db()
    assert (patient.study_id, patient.trial, patient.sex, patient.wbc) == ("MLL98-0001", mll98, "M", 320.5)
    assert (patient.diagnosis_date, patient.cns_status, patient.mll_partner) == (date(1999, 5, 18), "CNS3", "AF4")
    assert (patient.immunophenotype, patient.prednisone_response) == ("PRO_B", "POOR")
    assert patient.mll_detection_method == "SOUTHERN_BLOT"
    first = FirstLineResponse.objects.get(patient=patient)
    assert (first.outcome, first.assessment_date) == ("CR", date(1999, 6, 22))
    relapse = Relapse.objects.get(patient=patient)
    assert (relapse.relapse_date, relapse.site) == (date(1999, 12, 1), "BM")
    salvage = SalvageLine.objects.get(patient=patient)
    assert (salvage.regimen, salvage.agents) == ("FLAG", "fludarabine, cytarabine")
    assert (salvage.start_date, salvage.response, salvage.response_date) == (date(1999, 12, 5), "CR", date(2000, 1, 20))
    hsct = Transplant.objects.get(patient=patient)
    assert (hsct.transplant_date, hsct.transplant_type, hsct.donor) == (date(2000, 3, 1), "ALLO", "MSD")
    assert (hsct.stem_cell_source, hsct.conditioning, hsct.conditioning_intensity) == ("BM", "TBI", "MAC")
    assert hsct.disease_status == "CR2+"
    follow_up = FollowUp.objects.get(patient=patient)
    assert (follow_up.contact_date, follow_up.vital_status, follow_up.death_date) == (
        date(2000, 9, 10),
        "DEAD",
        date(2000, 9, 10),
    )
    assert follow_up.cause_of_death == "LEUKEMIA"
