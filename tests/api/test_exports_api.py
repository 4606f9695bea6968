"""/api/v1/exports/, /api/v1/data-dictionary/, /api/v1/auth/token/, /api/schema/ and /api/docs/."""

import csv
import io
import re
import zipfile

import pytest
from django.core.management import call_command
from django.db.models import Count

from registry.models import (
    Center,
    ExportLog,
    FirstLineResponse,
    FollowUp,
    Patient,
    Relapse,
    SalvageLine,
    Transplant,
)
from tests.factories import UserFactory


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


# --- The de-identified analysis ZIP: the whole course, in the user's scope, without dates ----

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _zip_tables(response):
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return {
        name.removesuffix(".csv"): list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))
        for name in archive.namelist()
    }


@pytest.fixture
def demo_cohort(db):
    call_command("seed_demo", stdout=io.StringIO())
    return Center.objects.annotate(n=Count("patients")).order_by("-n").first()


@pytest.mark.parametrize("scope", ["study", "center"])
def test_analysis_zip_holds_every_event_in_the_users_scope_and_no_dates(api, demo_cohort, scope):
    center = demo_cohort if scope == "center" else None
    user = UserFactory(username=f"statistician-{scope}", role="INVESTIGATOR", center=center)
    response = api(user).get("/api/v1/exports/analysis/zip/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    tables = _zip_tables(response)
    patients = Patient.objects.filter(center=center) if center else Patient.objects.all()
    expected = {
        "patients": patients.count(),
        "first_line_responses": FirstLineResponse.objects.filter(patient__in=patients).count(),
        "relapses": Relapse.objects.filter(patient__in=patients).count(),
        "salvage_lines": SalvageLine.objects.filter(patient__in=patients).count(),
        "transplants": Transplant.objects.filter(patient__in=patients).count(),
        "follow_ups": FollowUp.objects.filter(patient__in=patients).count(),
    }
    assert {name: len(rows) for name, rows in tables.items()} == expected
    assert 0 < expected["relapses"] and 0 < expected["transplants"]
    if center:
        assert expected["patients"] < Patient.objects.count()
    # Every event row belongs to a patient of the patients table, and nothing identifies or dates anyone.
    names = {row["pseudonym"] for row in tables["patients"]}
    study_ids = set(Patient.objects.values_list("study_id", flat=True))
    for name, rows in tables.items():
        assert {row["pseudonym"] for row in rows} <= names, name
        for row in rows:
            for value in row.values():
                assert not DATE.search(value) and value not in study_ids, (name, value)
    text = response.content.decode("latin-1")
    assert not any(study_id in text for study_id in study_ids)
    assert ExportLog.objects.get().file_format == "zip"


def test_analysis_zip_is_listed_in_the_index(api, investigator):
    exports = api(investigator).get("/api/v1/exports/").json()["exports"]
    analysis = next(e for e in exports if e["kind"] == "analysis")
    assert "zip" in analysis["formats"] and analysis["urls"]["zip"].endswith("/api/v1/exports/analysis/zip/")
