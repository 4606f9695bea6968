"""/api/v1/patients/: scoped reads, nested course, writes through the services, ETags and reasons."""

import pytest

from registry.models import Patient

URL = "/api/v1/patients/"


def _payload(**overrides):
    data = {
        "study_id": "MLL98-0100",
        "trial": "MLL98",
        "registration_date": "1999-03-02",
        "sex": "F",
        "date_of_birth": "1998-11-20",
        "diagnosis_date": "1999-02-28",
        "wbc": "312.5",
        "cns_status": "CNS1",
        "immunophenotype": "PRO_B",
        "prednisone_response": "GOOD",
        "mll_partner": "AF4",
        "mll_detection_method": "FISH",
    }
    data.update(overrides)
    return data


def test_list_is_scoped_to_the_coordinators_center(api, coordinator, own_patient, other_patient):
    response = api(coordinator).get(URL)
    assert response.status_code == 200
    assert [p["study_id"] for p in response.json()["results"]] == ["MLL96-0001"]


def test_other_centers_patient_is_404(api, coordinator, own_patient, other_patient):
    assert api(coordinator).get(f"{URL}{other_patient.pk}/").status_code == 404


def test_detail_has_course_and_etag(api, investigator, own_patient):
    response = api(investigator).get(f"{URL}{own_patient.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert response["ETag"] == f'W/"{own_patient.version}"'
    assert body["first_line_response"]["outcome"] == "CR"
    assert len(body["relapses"]) == 1 and len(body["follow_ups"]) == 1
    assert body["center"] == "TKY01" and body["trial"] == "MLL96"
    not_modified = api(investigator).get(f"{URL}{own_patient.pk}/", HTTP_IF_NONE_MATCH=response["ETag"])
    assert not_modified.status_code == 304


def test_coordinator_creates_a_patient_of_their_center(api, coordinator):
    response = api(coordinator).post(URL, _payload(), format="json")
    assert response.status_code == 201, response.json()
    patient = Patient.objects.get(study_id="MLL98-0100")
    assert patient.center.code == "TKY01"
    assert response["ETag"] == 'W/"1"'
    row = patient.history.get()
    assert row.audit_source == "api" and row.history_user == coordinator


def test_validation_errors_are_located_by_field(api, coordinator):
    response = api(coordinator).post(URL, _payload(date_of_birth="1997-01-01"), format="json")
    assert response.status_code == 400
    assert "diagnosis_date" in response.json()
    assert not Patient.objects.exists()


def test_unknown_fields_are_refused(api, coordinator):
    response = api(coordinator).post(URL, _payload(nickname="x"), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"nickname": ["Unknown field."]}


def test_edit_needs_version_and_reason(api, coordinator, own_patient):
    client = api(coordinator)
    url = f"{URL}{own_patient.pk}/"
    assert client.patch(url, {"wbc": "99.0", "reason": "typo"}, format="json").status_code == 428
    no_reason = client.patch(url, {"wbc": "99.0"}, format="json", HTTP_IF_MATCH=f'W/"{own_patient.version}"')
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    ok = client.patch(
        url,
        {"wbc": "99.0"},
        format="json",
        HTTP_IF_MATCH=f'W/"{own_patient.version}"',
        HTTP_X_REASON_FOR_CHANGE="transcription error",
    )
    assert ok.status_code == 200, ok.json()
    assert ok["ETag"] == f'W/"{own_patient.version + 1}"'
    latest = Patient.history.filter(id=own_patient.pk).latest("history_date")
    assert latest.history_change_reason == "transcription error" and latest.audit_source == "api"


def test_stale_edit_is_refused_with_412(api, coordinator, own_patient):
    client = api(coordinator)
    url = f"{URL}{own_patient.pk}/"
    stale = f'W/"{own_patient.version}"'
    first = client.patch(url, {"wbc": "99.0", "reason": "a"}, format="json", HTTP_IF_MATCH=stale)
    assert first.status_code == 200
    second = client.patch(url, {"wbc": "101.0", "reason": "b"}, format="json", HTTP_IF_MATCH=stale)
    assert second.status_code == 412
    assert "changed by someone else" in second.json()["detail"]
    own_patient.refresh_from_db()
    assert str(own_patient.wbc) == "99.0"


def test_version_field_works_instead_of_if_match(api, coordinator, own_patient):
    response = api(coordinator).patch(
        f"{URL}{own_patient.pk}/", {"wbc": "99.0", "reason": "r", "version": 1}, format="json"
    )
    assert response.status_code == (200 if own_patient.version == 1 else 412)


def test_filters_search_and_ordering(api, investigator, own_patient, other_patient):
    client = api(investigator)

    def study_ids(**params):
        return [p["study_id"] for p in client.get(URL, params).json()["results"]]

    assert len(study_ids(trial="MLL96")) == 2  # the factory's trial, whatever the ID
    assert study_ids(trial="MLL98") == []
    assert study_ids(center="OSK02") == ["MLL98-0002"]
    assert client.get(URL, {"search": "0002"}).json()["results"][0]["study_id"] == "MLL98-0002"
    ordered = client.get(URL, {"ordering": "-study_id"}).json()["results"]
    assert [p["study_id"] for p in ordered] == ["MLL98-0002", "MLL96-0001"]


@pytest.mark.parametrize("page_size", [2, 20])
def test_list_query_count_does_not_grow_with_page_size(api, investigator, center, django_assert_num_queries, page_size):
    from tests.factories import PatientFactory, relapsed_course

    for i in range(page_size + 2):
        relapsed_course(PatientFactory(center=center, study_id=f"MLL96-{i + 100:04d}"))
    client = api(investigator)
    client.get(URL)  # warm the token and membership look-ups into the same shape as below
    # token + user, membership, page (patients with center, trial, first line), 4 prefetches; no count
    with django_assert_num_queries(7):
        response = client.get(URL, {"page_size": page_size})
    assert len(response.json()["results"]) == page_size
    with django_assert_num_queries(7):  # a page reached by its cursor costs the same
        response = client.get(response.json()["next"])
    assert len(response.json()["results"]) == 2
