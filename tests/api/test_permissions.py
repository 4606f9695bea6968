"""The permission matrix: every role x own/other center x every endpoint and method.

The expected status of each cell is written out below as the rules of docs/roles.md and
docs/api.md say it, not derived from the code under test.
"""

from datetime import timedelta

import pytest
from django.db import transaction

from tests.factories import PatientFactory

ROLES = ["anonymous", "outsider", "coordinator", "center_investigator", "investigator", "data_manager", "admin_user"]
CLINICAL = ["patients", "first-line-responses", "relapses", "salvage-lines", "transplants", "follow-ups"]
METHODS = ["list", "retrieve", "create", "update", "partial_update", "destroy"]


def _user(request, role):
    return None if role == "anonymous" else request.getfixturevalue(role)


def _record(patient, endpoint):
    return {
        "patients": patient,
        "first-line-responses": patient.first_line_response,
        "relapses": patient.relapses.first(),
        "salvage-lines": patient.salvage_lines.first(),
        "transplants": patient.transplants.first(),
        "follow-ups": patient.follow_ups.first(),
    }[endpoint]


def _new_payload(endpoint, course_patient, fresh_patient, center_code):
    dx = course_patient.diagnosis_date
    day = lambda n: (dx + timedelta(days=n)).isoformat()  # noqa: E731
    return {
        "patients": {
            "study_id": "MLL98-0777",
            "center": center_code,
            "trial": "MLL98",
            "registration_date": "1999-03-02",
            "sex": "M",
            "date_of_birth": "1998-11-20",
            "diagnosis_date": "1999-02-28",
            "wbc": "10.0",
            "cns_status": "CNS1",
            "immunophenotype": "PRO_B",
            "prednisone_response": "GOOD",
            "mll_partner": "AF9",
            "mll_detection_method": "FISH",
        },
        "first-line-responses": {
            "patient": fresh_patient.pk,
            "outcome": "CR",
            "assessment_date": (fresh_patient.diagnosis_date + timedelta(days=30)).isoformat(),
        },
        "relapses": {"patient": course_patient.pk, "relapse_date": day(260), "site": "CNS"},
        "salvage-lines": {
            "patient": course_patient.pk,
            "regimen": "ALL-R",
            "agents": "x",
            "start_date": day(270),
            "response": "NR",
        },
        "transplants": {
            "patient": course_patient.pk,
            "transplant_date": day(400),
            "transplant_type": "ALLO",
            "donor": "MUD",
            "stem_cell_source": "BM",
            "conditioning": "TBI",
            "conditioning_intensity": "MAC",
            "disease_status": "CR2+",
        },
        "follow-ups": {"patient": course_patient.pk, "contact_date": day(1000), "vital_status": "ALIVE"},
    }[endpoint]


def expected_clinical(role, target, method, endpoint):
    if role == "anonymous":
        return 401
    if role == "outsider":
        return 403
    sees_other = role in ("investigator", "data_manager", "admin_user")
    if method in ("list", "retrieve"):
        if method == "retrieve" and target == "other" and not sees_other:
            return 404
        return 200
    if method == "create":
        if role != "coordinator":
            return 403
        if target == "own":
            return 201
        # Another center: a patient there is refused; an event names a patient the coordinator cannot see.
        return 403 if endpoint == "patients" else 400
    if method in ("update", "partial_update"):
        if role != "coordinator":
            return 403
        return 200 if target == "own" else 404
    if method == "destroy":
        return 204 if role == "data_manager" else 403
    raise AssertionError(method)


def _call(client, admin_client, method, endpoint, patient, fresh):
    record = _record(patient, endpoint)
    base = f"/api/v1/{endpoint}/"
    detail = f"{base}{record.pk}/"
    if method == "list":
        return client.get(base), record
    if method == "retrieve":
        return client.get(detail), record
    if method == "create":
        return client.post(base, _new_payload(endpoint, patient, fresh, patient.center.code), format="json"), record
    if method == "update":
        body = admin_client.get(detail).json()
        for nested in ("first_line_response", "relapses", "salvage_lines", "transplants", "follow_ups"):
            body.pop(nested, None)
        body["reason"] = "permission matrix"
        return client.put(detail, body, format="json", HTTP_IF_MATCH=f'W/"{record.version}"'), record
    if method == "partial_update":
        return client.patch(
            detail, {"reason": "permission matrix"}, format="json", HTTP_IF_MATCH=f'W/"{record.version}"'
        ), record
    return client.delete(detail, HTTP_X_REASON_FOR_CHANGE="permission matrix"), record


@pytest.mark.parametrize("endpoint", CLINICAL)
@pytest.mark.parametrize("role", ROLES)
def test_clinical_matrix(request, api, role, endpoint, own_patient, other_patient, admin_user):
    """Each cell (own/other center x method) runs in a savepoint rolled back afterwards."""
    client, admin_client = api(_user(request, role)), api(admin_user)
    fresh = {
        "own": PatientFactory(center=own_patient.center, study_id="MLL96-0901"),
        "other": PatientFactory(center=other_patient.center, study_id="MLL96-0902"),
    }
    wrong = []
    for target, patient in (("own", own_patient), ("other", other_patient)):
        for method in METHODS:
            with transaction.atomic():
                response, record = _call(client, admin_client, method, endpoint, patient, fresh[target])
                expected = expected_clinical(role, target, method, endpoint)
                if response.status_code != expected:
                    wrong.append((target, method, expected, response.status_code, getattr(response, "data", None)))
                elif method == "list" and expected == 200:
                    ids = [r["id"] for r in response.json()["results"]]
                    sees_other = role in ("investigator", "data_manager", "admin_user")
                    if (record.pk in ids) != (target == "own" or sees_other):
                        wrong.append((target, method, "scope", ids))
                transaction.set_rollback(True)
    assert not wrong


READ_ONLY = {
    # path: roles that get 200 (every other registry role: 403; anonymous: 401)
    "/api/v1/centers/": ROLES[2:],
    "/api/v1/trials/": ROLES[2:],
    "/api/v1/analyses/": ["center_investigator", "investigator", "data_manager", "admin_user"],
    "/api/v1/imports/": ROLES[2:],
    "/api/v1/exports/": ROLES[2:],
    "/api/v1/data-dictionary/": ROLES[2:],
    "/api/v1/exports/dictionary/md/": ROLES[2:],
    "/api/v1/exports/analysis/csv/": ["center_investigator", "investigator", "data_manager", "admin_user"],
    "/api/v1/exports/identified/xlsx/": ["admin_user"],
    "/api/v1/exports/odm/xml/": ["admin_user"],
    "/api/schema/": ROLES[2:],
}


@pytest.mark.parametrize("path", list(READ_ONLY))
@pytest.mark.parametrize("role", ROLES)
def test_read_only_endpoints(request, api, role, path, own_patient):
    response = api(_user(request, role)).get(path)
    expected = 401 if role == "anonymous" else (200 if role in READ_ONLY[path] else 403)
    assert response.status_code == expected


@pytest.mark.parametrize("path", ["/api/v1/centers/", "/api/v1/trials/", "/api/v1/analyses/"])
@pytest.mark.parametrize("role", ROLES)
def test_read_only_endpoints_refuse_writes(request, api, role, path):
    response = api(_user(request, role)).post(path, {}, format="json")
    if role == "anonymous":
        assert response.status_code == 401
    elif role == "outsider" or (path.endswith("analyses/") and role == "coordinator"):
        assert response.status_code == 403
    else:
        assert response.status_code == 405


@pytest.mark.parametrize("role", ROLES)
def test_import_upload_is_for_coordinators(request, api, role):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("patients.csv", b"study_id,center\n", content_type="text/csv")
    response = api(_user(request, role)).post("/api/v1/imports/", {"file": upload}, format="multipart")
    expected = {"anonymous": 401, "coordinator": 201}.get(role, 403)
    assert response.status_code == expected


@pytest.mark.parametrize("role", ROLES)
def test_review_is_for_data_managers(request, api, role, own_patient):
    response = api(_user(request, role)).post(
        f"/api/v1/patients/{own_patient.pk}/review/", {"verify": True, "reason": "monitored"}, format="json"
    )
    expected = {"anonymous": 401, "data_manager": 200}.get(role, 403)
    assert response.status_code == expected
