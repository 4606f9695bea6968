"""/api/v1/exports/, /api/v1/data-dictionary/, /api/v1/auth/token/, /api/schema/ and /api/docs/."""

from registry.models import ExportLog


def test_export_index_lists_what_the_role_may_download(api, investigator):
    kinds = [e["kind"] for e in api(investigator).get("/api/v1/exports/").json()["exports"]]
    assert kinds == ["analysis", "dictionary"]


def test_download_is_an_attachment_and_logged(api, investigator, own_patient):
    response = api(investigator).get("/api/v1/exports/analysis/dta/", HTTP_ACCEPT="application/x-stata-dta")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="mll_analysis_')
    assert ExportLog.objects.get().source == "api"


def test_unknown_export_is_404(api, admin_user):
    assert api(admin_user).get("/api/v1/exports/analysis/pdf/").status_code == 404


def test_data_dictionary_json(api, coordinator):
    body = api(coordinator).get("/api/v1/data-dictionary/").json()
    assert [s["name"] for s in body["sheets"]][0] == "patients"
    assert body["code_lists"]["Sex"] == [{"code": "M", "label": "Male"}, {"code": "F", "label": "Female"}]


def test_token_from_a_session(client, coordinator):
    client.force_login(coordinator)
    assert client.get("/api/v1/auth/token/").status_code == 404
    token = client.post("/api/v1/auth/token/").json()["token"]
    from rest_framework.test import APIClient

    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert script.get("/api/v1/patients/").status_code == 200
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert script.get("/api/v1/patients/").status_code == 401


def test_schema_and_swagger_ui_work_offline(client, investigator):
    client.force_login(investigator)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn.jsdelivr" not in html and "unpkg" not in html


def test_session_writes_need_csrf(investigator, coordinator):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(coordinator)
    response = client.post("/api/v1/patients/", {}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
