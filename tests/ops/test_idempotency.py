"""Idempotency-Key on API POSTs: a retry returns the first response and writes nothing."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from registry.models import ImportJob, Patient
from registry.ops.models import IdempotencyKey
from tests.api.test_patients import _payload
from tests.test_imports import PATIENT_HEADER, patient_row

pytestmark = pytest.mark.django_db
URL = "/api/v1/patients/"


def post(client, key, **overrides):
    return client.post(URL, _payload(**overrides), format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_repeated_key_creates_one_record_and_replays_the_first_response(api, coordinator):
    client = api(coordinator)
    first = post(client, "create-0100")
    assert first.status_code == 201
    again = post(client, "create-0100")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert Patient.objects.count() == 1
    assert Patient.objects.get().history.count() == 1  # one trail row: the retry wrote nothing


def test_the_same_key_with_another_body_is_422(api, coordinator):
    client = api(coordinator)
    assert post(client, "k-1").status_code == 201
    response = post(client, "k-1", study_id="MLL98-0101")
    assert response.status_code == 422 and response["Content-Type"].startswith("application/problem+json")
    assert Patient.objects.count() == 1


def test_keys_are_per_user(api, coordinator, other_coordinator):
    assert post(api(coordinator), "shared", study_id="MLL98-0100").status_code == 201
    assert post(api(other_coordinator), "shared", study_id="MLL98-0200").status_code == 201
    assert Patient.objects.count() == 2


def test_an_error_response_is_replayed_too(api, coordinator):
    client = api(coordinator)
    first = post(client, "bad-1", date_of_birth="2001-01-01")
    assert first.status_code == 400
    again = post(client, "bad-1", date_of_birth="2001-01-01")
    assert again.status_code == 400 and again["Idempotent-Replayed"] == "true"


def test_an_expired_key_runs_again(api, coordinator):
    client = api(coordinator)
    post(client, "old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = post(client, "old")
    assert response.status_code == 400  # ran again: the study id now exists
    assert "Idempotent-Replayed" not in response


def test_without_a_key_nothing_is_stored(api, coordinator):
    api(coordinator).post(URL, _payload(), format="json")
    assert not IdempotencyKey.objects.exists()


def test_a_bad_key_is_400(api, coordinator):
    response = post(api(coordinator), "x" * 300)
    assert response.status_code == 400 and not Patient.objects.exists()


def test_a_retried_upload_is_replayed(api, coordinator):
    client = api(coordinator)
    content = ("\n".join(",".join(r) for r in [PATIENT_HEADER, patient_row("MLL96-0001")]) + "\n").encode()
    responses = [
        client.post(
            "/api/v1/imports/",
            {"file": SimpleUploadedFile("patients.csv", content, content_type="text/csv")},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[1]["Idempotent-Replayed"] == "true"
    assert ImportJob.objects.count() == 1


def test_the_request_hash_ignores_the_multipart_boundary(rf):
    from registry.ops.middleware import request_hash

    def upload(boundary):
        body = f'--{boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--{boundary}--\r\n'.encode()
        request = rf.post("/api/v1/imports/", body, content_type=f"multipart/form-data; boundary={boundary}")
        return request_hash(request, body)

    assert upload("aaaa1111") == upload("bbbb2222")
    assert upload("aaaa1111") != request_hash(rf.post("/api/v1/imports/", b"x", content_type="text/csv"), b"x")
