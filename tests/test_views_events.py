"""Event pages: add, edit and delete first-line response, relapse, salvage, HSCT and follow-up."""

from datetime import timedelta

import pytest
from django.urls import reverse

from registry.models import FirstLineResponse, FollowUp, Relapse, SalvageLine, Transplant
from tests.factories import FirstLineResponseFactory, FollowUpFactory, PatientFactory, RelapseFactory, relapsed_course

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
# Who may see the patient (of `center`) and who may write its events.
SEES = {"coordinator", "investigator", "center_investigator", "data_manager", "admin_user"}
WRITES = {"coordinator"}
DELETES = {"data_manager"}


def expected(persona, allowed, ok=200):
    if persona == "anonymous":
        return 302
    if persona not in SEES:
        return 404
    return ok if persona in allowed else 403


@pytest.fixture
def patient(center):
    """A patient in CR1 since diagnosis + 35 days."""
    patient = PatientFactory(center=center, study_id="MLL96-0001")
    FirstLineResponseFactory(patient=patient)
    return patient


def day(patient, days):
    return (patient.diagnosis_date + timedelta(days=days)).isoformat()


def valid_data(kind, patient):
    return {
        "first-line": {"outcome": "CR", "assessment_date": day(patient, 30)},
        "relapse": {"relapse_date": day(patient, 200), "site": "BM"},
        "salvage": {"regimen": "FLAG", "agents": "fludarabine", "start_date": day(patient, 40), "response": "NR"},
        "transplant": {
            "transplant_date": day(patient, 150),
            "transplant_type": "ALLO",
            "donor": "MSD",
            "stem_cell_source": "BM",
            "conditioning": "TBI",
            "conditioning_intensity": "MAC",
            "disease_status": "CR1",
        },
        "follow-up": {"contact_date": day(patient, 1000), "vital_status": "ALIVE"},
    }[kind]


# --- Permission matrix ------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_add_relapse_permissions(login, patient, persona):
    url = reverse("registry:event-create", args=[patient.pk, "relapse"])
    client = login(persona)
    assert client.get(url).status_code == expected(persona, WRITES)
    response = client.post(url, valid_data("relapse", patient))
    assert response.status_code == expected(persona, WRITES, ok=302)
    assert Relapse.objects.exists() is (persona in WRITES)


@pytest.mark.parametrize("persona", PERSONAS)
def test_edit_relapse_permissions(login, patient, persona):
    relapse = RelapseFactory(patient=patient)
    url = reverse("registry:event-edit", args=["relapse", relapse.pk])
    client = login(persona)
    assert client.get(url).status_code == expected(persona, WRITES)
    data = {"relapse_date": day(patient, 210), "site": "CNS", "reason": "CRF re-read", "version": 1}
    assert client.post(url, data).status_code == expected(persona, WRITES, ok=302)
    relapse.refresh_from_db()
    assert (relapse.site == "CNS") is (persona in WRITES)


@pytest.mark.parametrize("persona", PERSONAS)
def test_delete_relapse_permissions(login, patient, persona):
    relapse = RelapseFactory(patient=patient)
    url = reverse("registry:event-delete", args=["relapse", relapse.pk])
    client = login(persona)
    assert client.get(url).status_code == expected(persona, DELETES)
    assert client.post(url, {"reason": "Entered twice"}).status_code == expected(persona, DELETES, ok=302)
    assert Relapse.objects.filter(pk=relapse.pk).exists() is (persona not in DELETES)


def test_unknown_kind_is_404(login, patient):
    assert login("coordinator").get(f"/patients/{patient.pk}/tumour/new/").status_code == 404


# --- Each kind of event ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,model",
    [("relapse", Relapse), ("salvage", SalvageLine), ("transplant", Transplant), ("follow-up", FollowUp)],
)
def test_add_each_event(login, center, kind, model):
    patient = PatientFactory(center=center)
    if kind == "salvage":
        FirstLineResponseFactory(patient=patient, outcome="INDUCTION_FAILURE")
    else:
        FirstLineResponseFactory(patient=patient)
    client = login("coordinator")
    url = reverse("registry:event-create", args=[patient.pk, kind])
    assert 'placeholder="YYYY-MM-DD"' in client.get(url).content.decode()  # ISO dates typed as text
    response = client.post(url, valid_data(kind, patient))
    assert response.status_code == 302, response.context["form"].errors
    assert response.url == reverse("registry:patient-detail", args=[patient.pk])
    record = model.objects.get(patient=patient)
    assert record.history.get().history_user.username == "coord"


def test_add_first_line(login, center):
    patient = PatientFactory(center=center)
    client = login("coordinator")
    assert b"Add first-line response" in client.get(reverse("registry:patient-detail", args=[patient.pk])).content
    url = reverse("registry:event-create", args=[patient.pk, "first-line"])
    assert client.post(url, valid_data("first-line", patient)).status_code == 302
    assert FirstLineResponse.objects.get(patient=patient).outcome == "CR"
    # A second one is not offered: the page sends the coordinator back to edit the first.
    response = client.get(url)
    assert response.status_code == 302
    assert FirstLineResponse.objects.filter(patient=patient).count() == 1


# --- Validation beside the field, nothing saved ----------------------------------------------


def test_relapse_before_remission_error_beside_date(login, patient):
    url = reverse("registry:event-create", args=[patient.pk, "relapse"])
    response = login("coordinator").post(url, {"relapse_date": day(patient, 10), "site": "BM"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "must follow a complete remission" in str(errors["relapse_date"])
    assert "Nothing was saved" in response.content.decode()
    assert not Relapse.objects.exists()


def test_transplant_donor_error_beside_field(login, patient):
    data = {**valid_data("transplant", patient), "transplant_type": "AUTO", "donor": "MSD"}
    response = login("coordinator").post(reverse("registry:event-create", args=[patient.pk, "transplant"]), data)
    assert "autologous" in str(response.context["form"].errors["donor"])
    assert not Transplant.objects.exists()


def test_death_without_cause_error_beside_field(login, patient):
    data = {"contact_date": day(patient, 400), "vital_status": "DEAD", "death_date": day(patient, 390)}
    response = login("coordinator").post(reverse("registry:event-create", args=[patient.pk, "follow-up"]), data)
    assert "cause" in str(response.context["form"].errors["cause_of_death"])
    assert not FollowUp.objects.exists()


def test_duplicate_follow_up_date_reported_beside_the_date(login, patient):
    FollowUpFactory(patient=patient, contact_date=patient.diagnosis_date + timedelta(days=1000))
    url = reverse("registry:event-create", args=[patient.pk, "follow-up"])
    response = login("coordinator").post(url, valid_data("follow-up", patient))
    assert response.status_code == 200
    assert "already has a follow-up on" in " ".join(response.context["form"].errors["contact_date"])
    assert FollowUp.objects.count() == 1


# --- Edits: reason and version ---------------------------------------------------------------


def test_edit_requires_reason(login, patient):
    relapse = RelapseFactory(patient=patient)
    url = reverse("registry:event-edit", args=["relapse", relapse.pk])
    client = login("coordinator")
    assert 'name="reason"' in client.get(url).content.decode()
    response = client.post(url, {"relapse_date": day(patient, 210), "site": "CNS", "version": 1})
    assert "reason" in response.context["form"].errors
    relapse.refresh_from_db()
    assert relapse.site == "BM" and relapse.version == 1


def test_stale_version_refused(login, patient):
    relapse = RelapseFactory(patient=patient)
    client = login("coordinator")
    url = reverse("registry:event-edit", args=["relapse", relapse.pk])
    first = {"relapse_date": day(patient, 200), "site": "CNS", "reason": "first editor", "version": 1}
    assert client.post(url, first).status_code == 302
    second = {"relapse_date": day(patient, 200), "site": "TESTIS", "reason": "second editor", "version": 1}
    response = client.post(url, second)
    assert response.status_code == 200
    assert "changed by someone else" in str(response.context["form"].non_field_errors())
    relapse.refresh_from_db()
    assert relapse.site == "CNS" and relapse.version == 2


@pytest.mark.parametrize("version", [None, ""], ids=["missing", "empty"])
def test_edit_without_its_version_is_refused(login, patient, version):
    relapse = RelapseFactory(patient=patient)
    data = {"relapse_date": day(patient, 200), "site": "TESTIS", "reason": "no version sent"}
    if version is not None:
        data["version"] = version
    url = reverse("registry:event-edit", args=["relapse", relapse.pk])
    response = login("coordinator").post(url, data)
    assert response.status_code == 200
    assert "changed by someone else" in str(response.context["form"].non_field_errors())
    relapse.refresh_from_db()
    assert relapse.site == "BM" and relapse.version == 1
    assert relapse.history.count() == 1


def test_edit_shows_in_patient_history(login, center):
    patient = relapsed_course(center=center)
    line = patient.salvage_lines.get()
    client = login("coordinator")
    data = {
        "regimen": line.regimen,
        "agents": "fludarabine, cytarabine, idarubicin",
        "start_date": line.start_date.isoformat(),
        "response": "CR",
        "response_date": line.response_date.isoformat(),
        "reason": "Idarubicin missing on CRF",
        "version": line.version,
    }
    assert client.post(reverse("registry:event-edit", args=["salvage", line.pk]), data).status_code == 302
    content = client.get(reverse("registry:patient-detail", args=[patient.pk])).content.decode()
    assert "Idarubicin missing on CRF" in content
    assert "fludarabine, cytarabine, idarubicin" in content


# --- Delete ------------------------------------------------------------------------------------


def test_delete_needs_reason(login, patient):
    relapse = RelapseFactory(patient=patient)
    url = reverse("registry:event-delete", args=["relapse", relapse.pk])
    response = login("data_manager").post(url, {"reason": ""})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert Relapse.objects.filter(pk=relapse.pk).exists()


def test_delete_kept_in_history(login, patient):
    relapse = RelapseFactory(patient=patient)
    client = login("data_manager")
    client.post(reverse("registry:event-delete", args=["relapse", relapse.pk]), {"reason": "Entered twice"})
    content = client.get(reverse("registry:patient-detail", args=[patient.pk])).content.decode()
    assert "deleted" in content and "Entered twice" in content
    assert "Relapse 1" not in content
