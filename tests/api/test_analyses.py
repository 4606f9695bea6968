"""/api/v1/analyses/: stored runs, read-only, results in the documented shape."""

import pytest

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
    assert api(coordinator).get("/api/v1/analyses/").status_code == 403
