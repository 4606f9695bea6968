"""The course on one page (issue 14), server side: the event forms and the course as fragments
for the patient page's script, "save and add next event", errors beside the fields, ISO dates
typed as text, numbers typed with letters, and the registration's suggested study ID and
remembered trial. The keyboard walk in a real browser is tests/browser/test_course_entry_browser.py.
"""

import html
import json
from datetime import timedelta

import pytest
from django.urls import reverse

from registry import selectors
from registry.models import FollowUp, Relapse
from registry.pages.views import COURSE_ORDER, FRAGMENT_HEADER, next_event_kind
from tests.factories import FirstLineResponseFactory, PatientFactory, RelapseFactory, trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(center):
    """A patient in CR1 since diagnosis + 35 days."""
    patient = PatientFactory(center=center, study_id="MLL98-0090", trial=trial("MLL98"))
    FirstLineResponseFactory(patient=patient)
    return patient


def day(patient, days):
    return (patient.diagnosis_date + timedelta(days=days)).isoformat()


def fragment(url):
    return url + "?fragment=1"


def test_course_order_is_the_paper_forms():
    assert COURSE_ORDER == ["first-line", "relapse", "salvage", "transplant", "follow-up"]
    assert [next_event_kind(kind) for kind in COURSE_ORDER] == ["relapse", "salvage", "transplant", "follow-up", None]


def test_event_form_fragment_is_the_form_alone(login, patient):
    response = login("coordinator").get(fragment(reverse("registry:event-create", args=[patient.pk, "relapse"])))
    content = response.content.decode()
    assert response.status_code == 200
    assert response[FRAGMENT_HEADER] == "form"
    assert "<html" not in content and "<form" in content
    assert 'name="csrfmiddlewaretoken"' in content
    assert "Save and add salvage line" in content  # the next event of the course
    # Dates typed as YYYY-MM-DD, with the day count from diagnosis shown beside them.
    assert 'inputmode="numeric"' in content and 'placeholder="YYYY-MM-DD"' in content
    assert 'type="date"' not in content
    assert f'data-diagnosis="{patient.diagnosis_date:%Y-%m-%d}"' in content
    assert 'class="computed day-count"' in content and 'data-for="id_relapse_date"' in content


def test_saving_in_place_answers_the_course_and_the_next_form(login, patient):
    url = fragment(reverse("registry:event-create", args=[patient.pk, "relapse"]))
    data = {"relapse_date": day(patient, 200), "site": "BM", "then": "next"}
    response = login("coordinator").post(url, data)
    content = response.content.decode()
    assert response.status_code == 200
    assert response[FRAGMENT_HEADER] == "course"
    assert "<html" not in content and 'id="course-section"' in content
    assert Relapse.objects.get(patient=patient).relapse_date.isoformat() == day(patient, 200)
    assert "Saved. Relapse added." in content
    next_url = reverse("registry:event-create", args=[patient.pk, "salvage"]) + "?fragment=1"
    assert f'data-next-form="{next_url}"' in content
    assert day(patient, 200) in content  # the new event is on the timeline


def test_plain_save_in_place_opens_no_next_form(login, patient):
    url = fragment(reverse("registry:event-create", args=[patient.pk, "relapse"]))
    response = login("coordinator").post(url, {"relapse_date": day(patient, 200), "site": "BM"})
    assert response.status_code == 200
    assert "data-next-form" not in response.content.decode()


def test_follow_up_is_the_last_of_the_course(login, patient):
    client = login("coordinator")
    url = fragment(reverse("registry:event-create", args=[patient.pk, "follow-up"]))
    assert "Save and add" not in client.get(url).content.decode()
    response = client.post(url, {"contact_date": day(patient, 1000), "vital_status": "ALIVE", "then": "next"})
    assert response.status_code == 200
    assert "data-next-form" not in response.content.decode()
    assert FollowUp.objects.filter(patient=patient).count() == 1


def test_error_in_place_answers_the_form_with_the_error_beside_the_field(login, patient):
    url = fragment(reverse("registry:event-create", args=[patient.pk, "relapse"]))
    response = login("coordinator").post(url, {"relapse_date": "03/04/1999", "site": "BM", "then": "next"})
    content = response.content.decode()
    assert response.status_code == 400
    assert response[FRAGMENT_HEADER] == "form"
    assert "Nothing was saved" in content
    assert 'class="field has-error"' in content and "Enter the date as YYYY-MM-DD." in content
    assert 'value="03/04/1999"' in content  # what was typed stays to be corrected
    assert not Relapse.objects.filter(patient=patient).exists()


def test_course_rule_error_in_place(login, patient):
    url = fragment(reverse("registry:event-create", args=[patient.pk, "relapse"]))
    response = login("coordinator").post(url, {"relapse_date": day(patient, 10), "site": "BM"})
    assert response.status_code == 400
    assert 'id="id_relapse_date_error"' in response.content.decode()
    assert not Relapse.objects.filter(patient=patient).exists()


def test_without_javascript_save_and_add_next_goes_to_the_next_page(login, patient):
    url = reverse("registry:event-create", args=[patient.pk, "relapse"])
    response = login("coordinator").post(url, {"relapse_date": day(patient, 200), "site": "BM", "then": "next"})
    assert response.status_code == 302
    assert response.url == reverse("registry:event-create", args=[patient.pk, "salvage"])
    plain = login("coordinator").get(url)
    assert plain.status_code == 200 and "<html" in plain.content.decode()


def test_edit_in_place_needs_its_reason_and_opens_no_next(login, patient):
    relapse = RelapseFactory(patient=patient)
    client = login("coordinator")
    url = fragment(reverse("registry:event-edit", args=["relapse", relapse.pk]))
    form = client.get(url).content.decode()
    assert 'name="reason"' in form and "Save and add" not in form
    data = {"relapse_date": relapse.relapse_date.isoformat(), "site": "CNS", "version": relapse.version}
    assert client.post(url, data).status_code == 400
    response = client.post(url, {**data, "reason": "Paper CRF says CNS"})
    assert response.status_code == 200 and response[FRAGMENT_HEADER] == "course"
    assert "data-next-form" not in response.content.decode()
    relapse.refresh_from_db()
    assert relapse.site == "CNS"


def test_refusal_in_place_is_a_whole_page(login, patient):
    url = fragment(reverse("registry:event-create", args=[patient.pk, "relapse"]))
    response = login("center_investigator").post(url, {"relapse_date": day(patient, 200), "site": "BM"})
    assert response.status_code == 403
    assert FRAGMENT_HEADER not in response  # the script shows the page that says why
    assert not Relapse.objects.filter(patient=patient).exists()


def test_patient_page_loads_the_course_script(login, patient):
    content = login("coordinator").get(reverse("registry:patient-detail", args=[patient.pk])).content.decode()
    assert "registry/course.js" in content
    assert 'id="course-form"' in content and "data-in-place" in content


# --- Registration -----------------------------------------------------------------------------


def registration(trial_pk, **overrides):
    return {
        "study_id": "MLL98-0091",
        "trial": trial_pk,
        "registration_date": "1999-05-20",
        "sex": "M",
        "date_of_birth": "1999-03-01",
        "diagnosis_date": "1999-05-18",
        "wbc": "320.5",
        "cns_status": "CNS3",
        "immunophenotype": "PRO_B",
        "prednisone_response": "POOR",
        "mll_partner": "AF4",
        "mll_detection_method": "SOUTHERN_BLOT",
        **overrides,
    }


def test_a_number_typed_with_letters_says_enter_a_number(login, center):
    response = login("coordinator").post(reverse("registry:patient-create"), registration(trial("MLL98").pk, wbc="abc"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Enter a number." in content.split('id="id_wbc_error"')[1].split("</ul>")[0]
    assert "This field is required" not in content
    assert 'name="wbc" value="abc" inputmode="decimal"' in content


def test_next_free_study_id_of_each_trial(center):
    mll96, mll98 = trial("MLL96"), trial("MLL98")
    PatientFactory(center=center, trial=mll98, study_id="MLL98-0090")
    PatientFactory(center=center, trial=mll98, study_id="MLL98-0007")
    assert selectors.next_study_ids()[mll98.pk] == "MLL98-0091"
    assert selectors.next_study_ids()[mll96.pk] == "MLL96-0001"


def test_registration_suggests_the_study_id_and_remembers_the_trial(login, center):
    mll98 = trial("MLL98")
    PatientFactory(center=center, trial=mll98, study_id="MLL98-0090")
    client = login("coordinator")
    first = client.get(reverse("registry:patient-create")).content.decode()
    suggestions = json.loads(html.unescape(first.split('data-suggestions="')[1].split('"')[0]))
    assert suggestions[str(mll98.pk)] == "MLL98-0091"
    assert 'class="record two-columns"' in first
    response = client.post(reverse("registry:patient-create"), registration(mll98.pk))
    assert response.status_code == 302
    again = client.get(reverse("registry:patient-create")).content.decode()
    assert 'value="MLL98-0092"' in again  # the next one, in the trial used last
    assert f'<option value="{mll98.pk}" selected>' in again
