"""Patient pages: list, register, detail, edit and the data manager's review."""

from datetime import date, timedelta

import pytest
from django.urls import reverse

from registry.models import Patient
from tests.factories import FirstLineResponseFactory, PatientFactory, RelapseFactory, relapsed_course

PERSONAS = [
    "coordinator",
    "other_coordinator",
    "investigator",
    "center_investigator",
    "data_manager",
    "admin_user",
    "outsider",
    "anonymous",
]


@pytest.fixture
def patient(center):
    return PatientFactory(center=center, study_id="MLL96-0001")


def patient_data(**overrides):
    data = {
        "study_id": "MLL98-0042",
        "trial": "",  # filled by the test (a Trial pk)
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
    }
    data.update(overrides)
    return data


def mll98():
    from tests.factories import trial

    return trial("MLL98")


# --- Permission matrix ------------------------------------------------------------------------

DETAIL = {
    "coordinator": 200,
    "other_coordinator": 404,
    "investigator": 200,
    "center_investigator": 200,
    "data_manager": 200,
    "admin_user": 200,
    "outsider": 404,
    "anonymous": 302,
}
EDIT = {**DETAIL, "investigator": 403, "center_investigator": 403, "data_manager": 403, "admin_user": 403}
CREATE = {
    "coordinator": 200,
    "other_coordinator": 200,
    "investigator": 403,
    "center_investigator": 403,
    "data_manager": 403,
    "admin_user": 403,
    "outsider": 403,
    "anonymous": 302,
}
REVIEW = {**EDIT, "coordinator": 403, "data_manager": 302}


@pytest.mark.parametrize("persona", PERSONAS)
def test_patient_detail_permissions(login, patient, persona):
    response = login(persona).get(reverse("registry:patient-detail", args=[patient.pk]))
    assert response.status_code == DETAIL[persona]
    if persona == "anonymous":
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("persona", PERSONAS)
def test_patient_edit_permissions(login, patient, persona):
    url = reverse("registry:patient-edit", args=[patient.pk])
    assert login(persona).get(url).status_code == EDIT[persona]


@pytest.mark.parametrize("persona", [p for p in PERSONAS if EDIT[p] != 200])
def test_patient_edit_post_refused_without_right(login, patient, persona):
    data = patient_data(study_id=patient.study_id, trial=patient.trial.pk, reason="x", version=patient.version)
    response = login(persona).post(reverse("registry:patient-edit", args=[patient.pk]), data)
    assert response.status_code == EDIT[persona]
    patient.refresh_from_db()
    assert patient.version == 1


@pytest.mark.parametrize("persona", PERSONAS)
def test_patient_create_permissions(login, center, persona):
    url = reverse("registry:patient-create")
    assert login(persona).get(url).status_code == CREATE[persona]
    if CREATE[persona] != 200:
        response = login(persona).post(url, patient_data(trial=mll98().pk))
        assert response.status_code == CREATE[persona]
        assert not Patient.objects.exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_patient_review_permissions(login, patient, persona):
    url = reverse("registry:patient-review", args=[patient.pk])
    response = login(persona).post(url, {"action": "lock", "reason": "Monitoring visit done"})
    assert response.status_code == REVIEW[persona]
    patient.refresh_from_db()
    assert patient.locked is (persona == "data_manager")


# --- List -------------------------------------------------------------------------------------


def test_list_shows_only_own_center(login, patient, other_center):
    PatientFactory(center=other_center, study_id="MLL96-0999")
    response = login("coordinator").get(reverse("registry:patient-list"))
    assert response.status_code == 200
    assert b"MLL96-0001" in response.content
    assert b"MLL96-0999" not in response.content
    assert b"Register patient" in response.content
    assert b'name="center"' not in response.content  # no center filter for a one-center user


def test_list_for_outsider_is_the_no_role_page(login, patient):
    response = login("outsider").get(reverse("registry:patient-list"))
    assert response.status_code == 403
    assert "registry/no_role.html" in [t.name for t in response.templates]
    assert b"MLL96-0001" not in response.content
    assert b"Register patient" not in response.content


def test_list_anonymous_redirects_to_login(client):
    response = client.get(reverse("registry:patient-list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_list_filters_and_columns(login, center, other_center):
    relapsed_course(center=center, study_id="MLL96-0007")
    FirstLineResponseFactory(patient=PatientFactory(center=other_center, study_id="MLL98-0003", trial=mll98()))
    client = login("investigator")
    url = reverse("registry:patient-list")

    response = client.get(url, {"status": "relapsed"})
    assert [p.study_id for p in response.context["page"]] == ["MLL96-0007"]
    assert b"Isolated" not in response.content  # list shows flags, not details
    row = response.context["page"][0]
    assert row.has_relapse and row.age_at_diagnosis_days == 120

    assert [p.study_id for p in client.get(url, {"center": "OSK02"}).context["page"]] == ["MLL98-0003"]
    assert [p.study_id for p in client.get(url, {"trial": "MLL98"}).context["page"]] == ["MLL98-0003"]
    assert [p.study_id for p in client.get(url, {"q": "0007"}).context["page"]] == ["MLL96-0007"]
    assert b'name="center"' in response.content


def test_list_paginates_by_fifty(login, center):
    for n in range(51):
        PatientFactory(center=center, study_id=f"MLL96-{n + 100:04d}")
    client = login("coordinator")
    first = client.get(reverse("registry:patient-list"))
    assert len(first.context["page"].object_list) == 50
    second = client.get(reverse("registry:patient-list"), {"page": 2})
    assert [p.study_id for p in second.context["page"]] == ["MLL96-0150"]


# --- Register and edit ------------------------------------------------------------------------


def test_register_lands_on_patient_page(login, center):
    response = login("coordinator").post(reverse("registry:patient-create"), patient_data(trial=mll98().pk))
    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("registry:patient-detail", args=[patient.pk])
    assert patient.center == center  # always the coordinator's own center
    assert patient.history.get().audit_source == "page"
    page = login("coordinator").get(response.url)
    assert b"Saved." in page.content
    assert b"78 days" in page.content  # age at diagnosis computed, not entered


def test_register_form_is_quick_to_fill(login, center):
    content = login("coordinator").get(reverse("registry:patient-create")).content.decode()
    assert 'placeholder="YYYY-MM-DD"' in content  # dates typed as ISO, not the browser's mm/dd/yyyy widget
    assert "autofocus" in content.split('name="study_id"')[1].split(">")[0]
    assert 'name="reason"' not in content  # no reason on create
    assert 'name="center"' not in content


def test_register_refuses_non_infant_beside_the_field(login, center):
    data = patient_data(trial=mll98().pk, date_of_birth="1998-01-01", diagnosis_date="1999-05-18")
    response = login("coordinator").post(reverse("registry:patient-create"), data)
    assert response.status_code == 200
    assert "infants only" in str(response.context["form"].errors["diagnosis_date"])
    assert not Patient.objects.exists()


def test_register_duplicate_study_id_beside_the_field(login, patient):
    data = patient_data(trial=mll98().pk, study_id="mll96-0001")  # normalised to upper case
    response = login("coordinator").post(reverse("registry:patient-create"), data)
    assert "already registered" in str(response.context["form"].errors["study_id"])
    assert Patient.objects.count() == 1


def test_edit_requires_reason(login, patient):
    data = patient_data(study_id=patient.study_id, trial=patient.trial.pk, version=patient.version, reason="")
    response = login("coordinator").post(reverse("registry:patient-edit", args=[patient.pk]), data)
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    patient.refresh_from_db()
    assert patient.version == 1 and patient.wbc != 320.5


def test_edit_saves_with_reason_in_history(login, patient):
    data = patient_data(
        study_id=patient.study_id, trial=patient.trial.pk, version=patient.version, reason="CRF page 2 re-read"
    )
    response = login("coordinator").post(reverse("registry:patient-edit", args=[patient.pk]), data)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert str(patient.wbc) == "320.5" and patient.version == 2
    page = login("coordinator").get(reverse("registry:patient-detail", args=[patient.pk]))
    assert b"CRF page 2 re-read" in page.content


def test_stale_edit_is_refused(login, patient):
    from registry import services

    patient._change_reason = "someone else"
    patient.wbc = 10
    services.save_record(user=None, record=patient, source="test", reason="someone else")
    data = patient_data(study_id=patient.study_id, trial=patient.trial.pk, version=1, reason="my edit")
    response = login("coordinator").post(reverse("registry:patient-edit", args=[patient.pk]), data)
    assert response.status_code == 200
    assert "changed by someone else" in str(response.context["form"].non_field_errors())
    patient.refresh_from_db()
    assert patient.version == 2 and str(patient.wbc) == "10.0"


@pytest.mark.parametrize("version", [None, ""], ids=["missing", "empty"])
def test_edit_without_its_version_is_refused(login, patient, version):
    data = patient_data(study_id=patient.study_id, trial=patient.trial.pk, reason="my edit")
    if version is not None:
        data["version"] = version
    response = login("coordinator").post(reverse("registry:patient-edit", args=[patient.pk]), data)
    assert response.status_code == 200
    assert "changed by someone else" in str(response.context["form"].non_field_errors())
    patient.refresh_from_db()
    assert patient.version == 1 and str(patient.wbc) != "320.5"
    assert patient.history.count() == 1


def test_chronology_error_on_patient_edit_beside_field(login, patient):
    FirstLineResponseFactory(patient=patient)
    RelapseFactory(patient=patient)
    late = (patient.diagnosis_date + timedelta(days=100)).isoformat()
    data = patient_data(
        study_id=patient.study_id,
        trial=patient.trial.pk,
        date_of_birth=patient.date_of_birth.isoformat(),
        diagnosis_date=late,
        registration_date=late,
        version=patient.version,
        reason="typo",
    )
    response = login("coordinator").post(reverse("registry:patient-edit", args=[patient.pk]), data)
    assert "diagnosis_date" in response.context["form"].errors
    patient.refresh_from_db()
    assert patient.diagnosis_date == date(1996, 5, 9)


# --- Detail and review ------------------------------------------------------------------------


def test_detail_shows_timeline_history_and_buttons(login, center):
    patient = relapsed_course(center=center)
    content = login("coordinator").get(reverse("registry:patient-detail", args=[patient.pk])).content.decode()
    for title in ("Diagnosis", "Complete remission (CR1)", "Relapse 1", "Salvage line 1: FLAG", "HSCT (Allogeneic)"):
        assert title in content
    assert "Add first-line response" not in content  # already recorded
    assert "Add relapse" in content and "Add HSCT" in content
    assert reverse("registry:event-edit", args=["relapse", patient.relapses.get().pk]) in content
    assert "Change history" in content and "test:factory" in content
    assert "Delete" not in content  # coordinators never delete


def test_detail_read_only_for_investigator(login, patient):
    content = login("investigator").get(reverse("registry:patient-detail", args=[patient.pk])).content.decode()
    assert "Edit patient" not in content and "Add relapse" not in content and "Verify" not in content


def test_data_manager_verifies_and_locks(login, patient):
    client = login("data_manager")
    url = reverse("registry:patient-review", args=[patient.pk])
    client.post(url, {"action": "verify", "reason": "Source data verified"})
    client.post(url, {"action": "lock", "reason": "Database lock"})
    patient.refresh_from_db()
    assert patient.verified_at and patient.locked
    content = client.get(reverse("registry:patient-detail", args=[patient.pk])).content.decode()
    assert "badge locked" in content and "badge verified" in content and "Database lock" in content
    # A locked patient is read-only for its coordinator until unlocked.
    coordinator = login("coordinator")
    assert coordinator.get(reverse("registry:patient-edit", args=[patient.pk])).status_code == 403
    assert coordinator.get(reverse("registry:event-create", args=[patient.pk, "relapse"])).status_code == 403
    login("data_manager").post(url, {"action": "unlock", "reason": "Query raised"})
    assert login("coordinator").get(reverse("registry:patient-edit", args=[patient.pk])).status_code == 200


def test_review_needs_reason(login, patient):
    response = login("data_manager").post(
        reverse("registry:patient-review", args=[patient.pk]), {"action": "lock", "reason": " "}
    )
    assert response.status_code == 400
    assert "reason" in response.context["review_form"].errors
    patient.refresh_from_db()
    assert not patient.locked


def test_favicon_answers_without_login(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
