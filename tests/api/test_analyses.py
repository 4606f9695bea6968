"""/api/v1/analyses/: stored runs, read-only, results in the documented shape, scoped by for_user."""

import pytest
from django.urls import reverse

from analysis.models import AnalysisRun


@pytest.fixture
def run(db):
    return AnalysisRun.objects.create(
        name="cohort_summary",
        status="succeeded",
        trigger="command",
        fingerprint="a" * 64,
        code_version="v1",
        n_patients=80,
        results={"schema": "cohort_summary/1", "n_registered": 80},
        figures={"os_overall": "<svg/>"},
        parameters={"fixed_times_years": [1, 3, 5]},
    )


@pytest.fixture
def center_run(center):
    return AnalysisRun.objects.create(
        name="cohort_summary",
        status="succeeded",
        trigger="command",
        results={"schema": "cohort_summary/1", "n_registered": 6},
        figures={"os_overall": "<svg>TKY01</svg>"},
        parameters={"center": "TKY01"},
    )


def test_list_and_detail(api, investigator, run):
    client = api(investigator)
    listed = client.get("/api/v1/analyses/").json()["results"]
    assert listed[0]["name"] == "cohort_summary" and "results" not in listed[0]
    detail = client.get(f"/api/v1/analyses/{run.pk}/").json()
    assert detail["results"]["schema"] == "cohort_summary/1"
    assert detail["fingerprint"] == "a" * 64 and detail["figure_names"] == ["os_overall"]
    assert detail["parameters"] == {"fixed_times_years": [1, 3, 5]}


def test_figure_as_svg(api, data_manager, run):
    response = api(data_manager).get(f"/api/v1/analyses/{run.pk}/figures/os_overall/")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert api(data_manager).get(f"/api/v1/analyses/{run.pk}/figures/nope/").status_code == 404


def test_filter_by_name_and_status(api, admin_user, run):
    client = api(admin_user)
    assert client.get("/api/v1/analyses/", {"name": "cohort_summary", "status": "succeeded"}).json()["count"] == 1
    assert client.get("/api/v1/analyses/", {"status": "failed"}).json()["count"] == 0


def test_coordinators_do_not_read_analyses(api, coordinator, run):
    response = api(coordinator).get("/api/v1/analyses/")
    assert response.status_code == 403 and "investigators" in response.json()["detail"]


def test_a_center_investigator_reads_only_their_centers_runs(api, center_investigator, run, center_run):
    client = api(center_investigator)
    listed = client.get("/api/v1/analyses/").json()
    assert listed["count"] == 1 and [r["id"] for r in listed["results"]] == [center_run.pk]
    assert client.get(f"/api/v1/analyses/{center_run.pk}/").json()["results"]["n_registered"] == 6
    assert client.get(f"/api/v1/analyses/{center_run.pk}/figures/os_overall/").content == b"<svg>TKY01</svg>"


def test_a_study_wide_run_is_not_found_for_a_center_investigator(api, center_investigator, run):
    client = api(center_investigator)
    for url in (f"/api/v1/analyses/{run.pk}/", f"/api/v1/analyses/{run.pk}/figures/os_overall/"):
        response = client.get(url)
        assert response.status_code == 404 and b"n_registered" not in response.content


def test_the_runs_api_keeps_its_url_names(run):
    assert reverse("api:analysis-list") == "/api/v1/analyses/"
    assert reverse("api:analysis-detail", args=[run.pk]) == f"/api/v1/analyses/{run.pk}/"
    assert (
        reverse("api:analysis-figure", args=[run.pk, "os_overall"]) == f"/api/v1/analyses/{run.pk}/figures/os_overall/"
    )
