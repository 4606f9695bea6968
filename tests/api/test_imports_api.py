"""/api/v1/imports/: upload (dry run), report, commit."""

from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import Patient
from tests.test_imports import PATIENT_HEADER, patient_row


def _csv(*rows):
    return ("\n".join(",".join(r) for r in [PATIENT_HEADER, *rows]) + "\n").encode()


def test_upload_check_then_commit(api, coordinator):
    client = api(coordinator)
    upload = SimpleUploadedFile("patients.csv", _csv(patient_row("MLL96-0001")), content_type="text/csv")
    response = client.post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.json()
    job = response.json()
    assert job["status"] == "checked" and job["report"]["sheets"]["patients"]["create"] == 1
    assert not Patient.objects.exists()
    response = client.post(f"/api/v1/imports/{job['id']}/commit/")
    assert response.status_code == 200 and response.json()["status"] == "committed"
    assert Patient.objects.get().history.get().audit_source == "import:patients.csv"


def test_report_locates_problems_and_commit_is_refused(api, coordinator):
    client = api(coordinator)
    upload = SimpleUploadedFile("patients.csv", _csv(patient_row("MLL96-0001", sex="Q")), content_type="text/csv")
    job = client.post("/api/v1/imports/", {"file": upload}, format="multipart").json()
    assert job["status"] == "rejected"
    assert job["report"]["problems"][0] | {"message": ""} == {
        "sheet": "patients",
        "row": 2,
        "column": "sex",
        "kind": "unknown_code",
        "value": "Q",
        "message": "",
    }
    response = client.post(f"/api/v1/imports/{job['id']}/commit/")
    assert response.status_code == 409


def test_jobs_are_private(api, coordinator, other_coordinator):
    upload = SimpleUploadedFile("patients.csv", _csv(patient_row("MLL96-0001")), content_type="text/csv")
    job = api(coordinator).post("/api/v1/imports/", {"file": upload}, format="multipart").json()
    assert api(other_coordinator).get(f"/api/v1/imports/{job['id']}/").status_code == 404
    assert api(other_coordinator).get("/api/v1/imports/").json()["count"] == 0
