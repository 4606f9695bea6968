"""Every error under /api/ is an RFC 9457 problem document with the request id of the log line."""

import json
import logging

import pytest
from django.db import OperationalError

from registry.ops import jsonlog

pytestmark = pytest.mark.django_db

MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(response, status):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/problem+json")
    if response.has_header("Content-Length"):  # browsers stop reading at the announced length
        assert int(response["Content-Length"]) == len(response.content)
    body = response.json()
    assert MEMBERS <= set(body) and body["status"] == status
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_unknown_url_under_api_is_a_problem(api, coordinator):
    body = assert_problem(api(coordinator).get("/api/v1/nothing-here/"), 404)
    assert body["instance"] == "/api/v1/nothing-here/"


def test_unauthenticated_is_a_problem_with_its_challenge(api):
    response = api(None).get("/api/v1/patients/")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Token")


def test_validation_errors_keep_their_fields(api, coordinator):
    body = assert_problem(api(coordinator).post("/api/v1/patients/", {"nickname": "x"}, format="json"), 400)
    assert "nickname" in body["errors"]


def test_deep_json_is_400_not_500(api, coordinator):
    depth = 100_000
    body = "[" * depth + "]" * depth
    response = api(coordinator).post("/api/v1/patients/", body, content_type="application/json")
    assert "nests deeper" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize("number", ["1" * 5000, "1e999999", "-1" + "0" * 100])
def test_huge_numbers_are_400(api, coordinator, number):
    response = api(coordinator).post("/api/v1/patients/", f'{{"wbc": {number}}}', content_type="application/json")
    assert_problem(response, 400)


def test_a_crash_is_a_500_problem_and_its_request_id_is_logged(api, coordinator, monkeypatch, caplog):
    from registry.api import views

    def crash(self, request, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.PatientViewSet, "list", crash)
    client = api(coordinator)
    client.raise_request_exception = False
    with caplog.at_level(logging.INFO):
        response = client.get("/api/v1/patients/", HTTP_X_REQUEST_ID="client-chosen-id-1234")
    body = assert_problem(response, 500)
    assert body["request_id"] == "client-chosen-id-1234"
    assert "boom" not in json.dumps(body)
    lines = [json.loads(jsonlog.JsonFormatter().format(r)) for r in caplog.records]
    assert any(line["request_id"] == "client-chosen-id-1234" and line.get("status") == 500 for line in lines)
    assert any(line["request_id"] == "client-chosen-id-1234" and "exception" in line for line in lines)


def test_a_database_outage_is_a_503_problem(api, coordinator, monkeypatch):
    from rest_framework.authentication import TokenAuthentication

    def down(self, key):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    client = api(coordinator)
    monkeypatch.setattr(TokenAuthentication, "authenticate_credentials", down)
    client.raise_request_exception = False
    response = client.get("/api/v1/patients/")
    assert_problem(response, 503)
    assert response["Retry-After"] == "30"


def test_pages_outside_the_api_keep_their_html_404(client, coordinator):
    client.force_login(coordinator, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "json" not in response["Content-Type"]


def test_access_log_line_has_method_path_status_duration_and_user(api, coordinator, caplog):
    with caplog.at_level(logging.INFO, logger="registry.access"):
        response = api(coordinator).get("/api/v1/patients/")
    record = next(r for r in caplog.records if r.name == "registry.access")
    line = json.loads(jsonlog.JsonFormatter().format(record))
    assert line["method"] == "GET" and line["path"] == "/api/v1/patients/" and line["status"] == 200
    assert line["duration_ms"] >= 0 and line["user"] == "coord"
    assert line["request_id"] == response["X-Request-ID"]


def test_a_nul_character_in_a_query_parameter_is_a_400_problem(client, data_manager):
    client.force_login(data_manager)
    for url in ("/api/v1/queries/?center=TK%00Y", "/api/v1/verifications/?record_type=a%00", "/api/v1/patients/?q=%00"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert response["Content-Type"].startswith("application/problem+json")
        assert "NUL" in response.json()["detail"]
