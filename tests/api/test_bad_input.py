"""Bad input gets a clear 4xx with a message, never a 500 and never a partial write."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import Patient

URL = "/api/v1/patients/"


@pytest.fixture
def client(api, coordinator):
    return api(coordinator)


def test_malformed_json(client):
    response = client.post(URL, data='{"study_id": "MLL96-0001",', content_type="application/json")
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["detail"]


def test_json_that_is_not_an_object(client):
    response = client.post(URL, data="[1, 2]", content_type="application/json")
    assert response.status_code == 400


def test_non_standard_json_constants(client):
    response = client.post(URL, data='{"wbc": NaN}', content_type="application/json")
    assert response.status_code == 400


def test_wrong_encoding(client):
    body = '{"study_id": "MLL96-0001", "regimen": "é"}'.encode("latin-1")
    response = client.post(URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


def test_wrong_types_are_located(client):
    response = client.post(
        URL, {"study_id": 12, "wbc": "lots", "date_of_birth": "yesterday", "trial": ["MLL96"]}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert {"wbc", "date_of_birth", "trial"} <= set(body)


def test_huge_payload(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(URL, data='{"study_id": "' + "x" * 2000 + '"}', content_type="application/json")
    assert response.status_code == 413
    assert not Patient.objects.exists()


def test_unsupported_media_type(client):
    response = client.post(URL, data="<patient/>", content_type="application/xml")
    assert response.status_code == 415


def test_bad_if_match(client, own_patient):
    response = client.patch(f"{URL}{own_patient.pk}/", {"reason": "x"}, format="json", HTTP_IF_MATCH="yesterday")
    assert response.status_code == 400 and "If-Match" in response.json()


def test_bad_version_field(client, own_patient):
    response = client.patch(f"{URL}{own_patient.pk}/", {"reason": "x", "version": "two"}, format="json")
    assert response.status_code == 400


def test_non_numeric_id_is_404(client):
    assert client.get(f"{URL}abc/").status_code == 404


def test_upload_with_wrong_encoding_is_a_clear_400(client):
    upload = SimpleUploadedFile("patients.csv", "study_id\nMLL96-0001é\n".encode("utf-16"), content_type="text/csv")
    response = client.post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


def test_upload_of_the_wrong_type(client):
    upload = SimpleUploadedFile("patients.exe", b"MZ", content_type="application/octet-stream")
    response = client.post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 415


def test_oversized_upload(client, monkeypatch):
    from registry.transfer import uploads

    monkeypatch.setattr(uploads, "MAX_BYTES", 10)
    upload = SimpleUploadedFile("patients.csv", b"study_id,center\n" * 10, content_type="text/csv")
    response = client.post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 413


def test_upload_without_a_file(client):
    response = client.post("/api/v1/imports/", {"reason": "x"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()


def test_a_refused_event_writes_nothing(client, own_patient):
    before = own_patient.relapses.count()
    response = client.post(
        "/api/v1/relapses/", {"patient": own_patient.pk, "relapse_date": "1990-01-01", "site": "BM"}, format="json"
    )
    assert response.status_code == 400 and "relapse_date" in response.json()
    assert own_patient.relapses.count() == before


def test_throttling(api, investigator, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "3/minute"})
    client = api(investigator)
    codes = [client.get("/api/v1/centers/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_out_of_range_time_zone_offsets_are_normalised(api, investigator, own_patient):
    client = api(investigator)
    response = client.get(URL, {"updated_after": "0296-07-06T21:32:41.5-20:49"})
    assert response.status_code == 200
    response = client.get(URL, {"updated_after": "0001-01-01T00:00:00+20:00"})
    assert response.status_code == 400
