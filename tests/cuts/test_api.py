"""``/api/v1/data-cuts/`` and computing at a cut through ``/api/v1/analyses/compute/``."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from analysis.models import AnalysisRun
from registry.cuts.models import DataCut
from tests.factories import PatientFactory, relapsed_course, trial

URL = "/api/v1/data-cuts/"


def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def cohort(center):
    return [relapsed_course(PatientFactory(center=center, trial=trial("MLL96"))) for _ in range(3)]


def test_a_data_manager_creates_and_releases_every_role_lists(data_manager, coordinator, cohort):
    created = api(data_manager).post(URL, {"name": "MLL96 final", "trial": "MLL96"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["frozen"] and body["n_patients"] == 3 and len(body["fingerprint"]) == 64
    listed = api(coordinator).get(URL).json()
    assert [c["name"] for c in listed["results"]] == ["MLL96 final"]
    no_reason = api(data_manager).post(f"{URL}{body['id']}/release/", {}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.content.decode()
    released = api(data_manager).post(f"{URL}{body['id']}/release/", {"reason": "published"}, format="json")
    assert released.status_code == 200 and not released.json()["frozen"]
    assert released.json()["released_by"] == "datamanager"


def test_other_roles_may_not_create_or_release(coordinator, investigator, data_manager, cohort):
    for user in (coordinator, investigator):
        refused = api(user).post(URL, {"name": "x"}, format="json")
        assert refused.status_code == 403 and "data manager" in refused.content.decode()
    cut = api(data_manager).post(URL, {"name": "x"}, format="json").json()
    assert api(investigator).post(f"{URL}{cut['id']}/release/", {"reason": "y"}, format="json").status_code == 403
    assert DataCut.objects.get().frozen


def test_a_taken_name_is_a_400_naming_the_field(data_manager, cohort):
    api(data_manager).post(URL, {"name": "x", "trial": "MLL96"}, format="json")
    again = api(data_manager).post(URL, {"name": "x", "trial": "MLL98"}, format="json")
    assert again.status_code == 400 and "name" in again.json().get("errors", again.json())


def test_compute_at_a_cut_through_the_api(
    investigator, data_manager, coordinator, cohort, django_capture_on_commit_callbacks
):
    api(data_manager).post(URL, {"name": "MLL96 final", "trial": "MLL96"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(investigator).post("/api/v1/analyses/compute/", {"cut": "MLL96 final"}, format="json")
    assert response.status_code == 202, response.json()
    ids = response.json()["runs"]
    runs = AnalysisRun.objects.filter(pk__in=ids)
    assert {r.status for r in runs} == {"succeeded"} and {r.data_cut.name for r in runs} == {"MLL96 final"}
    listed = api(investigator).get(f"/api/v1/analyses/{ids[0]}/").json()
    assert listed["data_cut"] == "MLL96 final"
    assert api(investigator).post("/api/v1/analyses/compute/", {"cut": "nope"}, format="json").status_code == 400
    outside = api(investigator).post(
        "/api/v1/analyses/compute/", {"cut": "MLL96 final", "trial": "MLL98"}, format="json"
    )
    assert outside.status_code == 400
    assert api(coordinator).post("/api/v1/analyses/compute/", {}, format="json").status_code == 403
