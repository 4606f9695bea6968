"""Event endpoints: create, edit with version and reason, delete by data managers with a reason."""

from registry.models import Relapse

URL = "/api/v1/relapses/"


def test_create_event_and_audit(api, coordinator, own_patient):
    dx = own_patient.diagnosis_date
    from datetime import timedelta

    response = api(coordinator).post(
        URL, {"patient": own_patient.pk, "relapse_date": str(dx + timedelta(days=260)), "site": "CNS"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["study_id"] == "MLL96-0001"
    assert response["Location"].endswith(f"{URL}{response.json()['id']}/")
    relapse = Relapse.objects.get(pk=response.json()["id"])
    assert relapse.history.get().audit_source == "api"


def test_event_cannot_move_to_another_patient(api, coordinator, own_patient, center):
    from tests.factories import PatientFactory

    another = PatientFactory(center=center, study_id="MLL96-0099")
    relapse = own_patient.relapses.get()
    response = api(coordinator).patch(
        f"{URL}{relapse.pk}/",
        {"patient": another.pk, "reason": "x"},
        format="json",
        HTTP_IF_MATCH=f'W/"{relapse.version}"',
    )
    assert response.status_code == 400 and "patient" in response.json()


def test_delete_needs_a_reason_and_is_audited(api, data_manager, own_patient):
    relapse = own_patient.relapses.get()
    client = api(data_manager)
    response = client.delete(f"{URL}{relapse.pk}/")
    assert response.status_code == 400 and "reason" in response.json()
    response = client.delete(f"{URL}{relapse.pk}/?reason=entered%20twice")
    assert response.status_code == 204
    row = Relapse.history.filter(id=relapse.pk, history_type="-").get()
    assert row.history_change_reason == "entered twice" and row.audit_source == "api"
    assert row.history_user == data_manager


def test_delete_with_a_stale_if_match_is_refused(api, data_manager, own_patient):
    relapse = own_patient.relapses.get()
    response = api(data_manager).delete(f"{URL}{relapse.pk}/", HTTP_IF_MATCH='W/"99"', HTTP_X_REASON_FOR_CHANGE="x")
    assert response.status_code == 412
    assert Relapse.objects.filter(pk=relapse.pk).exists()


def test_utf8_reason_header(api, coordinator, own_patient):
    relapse = own_patient.relapses.get()
    header = "Korrektur nach Quelldatenprüfung".encode().decode("latin-1")
    response = api(coordinator).patch(
        f"{URL}{relapse.pk}/",
        {},
        format="json",
        HTTP_IF_MATCH=f'W/"{relapse.version}"',
        HTTP_X_REASON_FOR_CHANGE=header,
    )
    assert response.status_code == 200
    assert relapse.history.latest("history_date").history_change_reason == "Korrektur nach Quelldatenprüfung"


def test_locked_patient_cannot_be_edited(api, coordinator, data_manager, own_patient):
    from registry import services

    services.review_patient(user=data_manager, patient=own_patient, source="test", lock=True, reason="locked")
    relapse = own_patient.relapses.get()
    response = api(coordinator).patch(
        f"{URL}{relapse.pk}/", {"reason": "x"}, format="json", HTTP_IF_MATCH=f'W/"{relapse.version}"'
    )
    assert response.status_code == 403
    assert "locked" in response.json()["detail"]


def test_filters_on_events(api, investigator, own_patient, other_patient):
    client = api(investigator)
    assert len(client.get(URL, {"study_id": "MLL96-0001"}).json()["results"]) == 1
    assert client.get(URL, {"site": "CNS"}).json()["results"] == []
    assert len(client.get("/api/v1/follow-ups/", {"vital_status": "ALIVE"}).json()["results"]) == 2
