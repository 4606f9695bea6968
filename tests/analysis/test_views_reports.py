"""The outcome report page: who sees which report, filters, provenance, recompute, downloads."""

import csv
import io

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from analysis import analyses
from analysis.models import AnalysisRun
from registry import services
from tests.analysis.report_data import compute_report, registry_cohort

pytestmark = pytest.mark.django_db

REPORT = reverse("analysis:report")


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cohort(center, other_center):
    return registry_cohort(6, center=center) + registry_cohort(4, center=other_center, trial_code="MLL98", start=6)


@pytest.fixture
def study_runs(cohort):
    return compute_report()


def get(client, user, url=REPORT, **params):
    client.force_login(user)
    return client.get(url, params)


@pytest.mark.parametrize(
    "persona, expected",
    [
        ("investigator", 200),
        ("center_investigator", 200),
        ("data_manager", 200),
        ("admin_user", 200),
        ("coordinator", 403),
        ("outsider", 403),
    ],
)
def test_who_sees_the_outcome_report(client, request, persona, expected):
    assert get(client, request.getfixturevalue(persona)).status_code == expected


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(REPORT)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_report_shows_stored_results_with_their_provenance(client, investigator, study_runs):
    response = get(client, investigator)
    page = response.content.decode()
    assert response.status_code == 200
    run = study_runs["os_after_second_line"]
    assert f"run {run.pk}" in page and run.fingerprint[:12] in page
    assert "Table 1. Patient characteristics" in page and "Multivariable Cox model" in page
    assert "immortal-time bias" in page
    assert reverse("analysis:figure", args=[run.pk, "os_overall", "svg"]) in page
    assert "Data changed since" not in page
    assert 'name="trial"' in page and "Recompute this report" in page


def test_a_data_change_after_the_run_is_flagged(client, investigator, study_runs, cohort):
    patient = cohort[0]
    patient.wbc = 410
    services.save_record(user=None, record=patient, reason="corrected WBC", source="test")
    page = get(client, investigator).content.decode()
    assert "Data changed since this run" in page
    assert "The registry has changed since" in page


def test_readers_without_recompute_right_see_no_button(client, data_manager, study_runs):
    page = get(client, data_manager).content.decode()
    assert "Table 1." in page and "Recompute this report" not in page


def test_the_trial_filter_reads_runs_with_matching_parameters(client, investigator, study_runs):
    page = get(client, investigator, trial="MLL98").content.decode()
    assert "No stored results for MLL98, all centers yet" in page
    runs_ = compute_report({"trial": "MLL98"})
    page = get(client, investigator, trial="MLL98").content.decode()
    assert f"run {runs_['patient_characteristics'].pk}" in page
    assert "4 patients (MLL98, all centers)" in page
    assert get(client, investigator, trial="MLL2000").status_code == 404


def test_a_center_investigator_sees_only_their_center(client, center_investigator, study_runs):
    page = get(client, center_investigator).content.decode()
    assert "MLL96 and MLL98, TKY01" in page
    assert "OSK02" not in page
    # The study-wide runs include other centers: not shown to them.
    assert f"run {study_runs['cohort_summary'].pk}" not in page
    assert get(client, center_investigator, center="OSK02").status_code == 404
    mine = compute_report({"center": "TKY01"})
    page = get(client, center_investigator).content.decode()
    assert f"run {mine['cohort_summary'].pk}" in page and "6 patients (MLL96 and MLL98, TKY01)" in page
    figure = reverse("analysis:figure", args=[study_runs["os_after_second_line"].pk, "os_overall", "svg"])
    assert client.get(figure).status_code == 404
    figure = reverse("analysis:figure", args=[mine["os_after_second_line"].pk, "os_overall", "svg"])
    assert client.get(figure).status_code == 200


def test_an_investigator_may_choose_any_center(client, investigator, study_runs):
    page = get(client, investigator, center="OSK02").content.decode()
    assert "MLL96 and MLL98, OSK02" in page
    assert get(client, investigator, center="NOPE1").status_code == 404


def test_recompute_without_javascript_queues_runs_and_redirects(
    client, investigator, cohort, django_capture_on_commit_callbacks
):
    client.force_login(investigator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("analysis:recompute"), {"trial": "MLL96", "center": ""})
    assert response.status_code == 302 and response["Location"] == REPORT + "?trial=MLL96"
    queued = AnalysisRun.objects.filter(parameters={"trial": "MLL96"})
    assert sorted(queued.values_list("name", flat=True)) == sorted(analyses.REPORT_ANALYSES)
    assert set(queued.values_list("trigger", "requested_by", "status")) == {("on_demand", investigator.pk, "succeeded")}
    page = client.get(REPORT, {"trial": "MLL96"}).content.decode()
    assert "6 patients (MLL96, all centers)" in page


def test_recompute_for_javascript_answers_json_and_status_follows_the_runs(client, admin_user, cohort):
    client.force_login(admin_user)
    response = client.post(reverse("analysis:recompute"), {"center": "OSK02"}, HTTP_ACCEPT="application/json")
    data = response.json()
    assert len(data["runs"]) == len(analyses.REPORT_ANALYSES)
    status = client.get(data["status_url"]).json()
    n = len(analyses.REPORT_ANALYSES)
    assert status == {"runs": status["runs"], "total": n, "done": 0, "failed": [], "finished": False}
    # A second click while they are pending does not queue more.
    again = client.post(reverse("analysis:recompute"), {"center": "OSK02"}, HTTP_ACCEPT="application/json").json()
    assert again["runs"] == data["runs"]
    page = client.get(REPORT, {"center": "OSK02"}).content.decode()
    assert f"{n} analyses queued or running" in page
    from analysis import runs

    for pk in data["runs"]:
        runs.execute_run(pk)
    assert client.get(data["status_url"]).json()["finished"] is True
    fragment = client.get(data["fragment_url"]).content.decode()
    assert "Table 1." in fragment and "<html" not in fragment


@pytest.mark.parametrize("persona, expected", [("data_manager", 403), ("coordinator", 403), ("outsider", 403)])
def test_only_investigators_and_admins_recompute(client, request, persona, expected, cohort):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(reverse("analysis:recompute"), {}).status_code == expected
    assert not AnalysisRun.objects.exists()


def test_a_center_investigator_recomputes_only_their_center(client, center_investigator, cohort):
    client.force_login(center_investigator)
    assert client.post(reverse("analysis:recompute"), {"center": "OSK02"}).status_code == 404
    client.post(reverse("analysis:recompute"), {})
    assert AnalysisRun.objects.count() == len(analyses.REPORT_ANALYSES)
    assert all(p == {"center": "TKY01"} for p in AnalysisRun.objects.values_list("parameters", flat=True))


def test_table_downloads_csv_and_xlsx_with_provenance(client, investigator, study_runs):
    client.force_login(investigator)
    response = client.get(reverse("analysis:table", args=["os_by_factor", "csv"]))
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="mll-registry-os_by_factor.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][0].startswith("Table 3.") and rows[1][0] == "Factor / group"
    assert any(r and r[0].startswith(f"Source: analysis run {study_runs['os_after_second_line'].pk}") for r in rows)
    response = client.get(reverse("analysis:table", args=["table1", "xlsx"]), {"trial": ""})
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet["A1"].value.startswith("Table 1.")
    assert client.get(reverse("analysis:table", args=["nope", "csv"])).status_code == 404
    assert client.get(reverse("analysis:table", args=["table1", "exe"])).status_code == 404


def test_figure_downloads_svg_and_print_png(client, investigator, study_runs):
    client.force_login(investigator)
    run = study_runs["os_after_second_line"]
    svg = client.get(reverse("analysis:figure", args=[run.pk, "os_overall", "svg"]))
    assert svg["Content-Type"] == "image/svg+xml" and b"<title>OS after second-line treatment</title>" in svg.content
    png = client.get(reverse("analysis:figure", args=[run.pk, "cox_forest", "png"]), {"download": 1})
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert "attachment" in png["Content-Disposition"]
    assert client.get(reverse("analysis:figure", args=[run.pk, "nope", "svg"])).status_code == 404
    summary = study_runs["cohort_summary"]
    assert client.get(reverse("analysis:figure", args=[summary.pk, "os_overall", "png"])).status_code == 404


@pytest.mark.parametrize("dpi", ["300", "600"])
def test_figures_as_tiff_at_300_and_600_dpi(client, investigator, study_runs, dpi):
    from PIL import Image

    client.force_login(investigator)
    run = study_runs["os_after_second_line"]
    url = reverse("analysis:figure", args=[run.pk, "os_overall", "tiff"])
    tiff = client.get(url, {"download": 1, "dpi": dpi})
    assert tiff["Content-Type"] == "image/tiff" and f"-{dpi}dpi.tiff" in tiff["Content-Disposition"]
    image = Image.open(io.BytesIO(tiff.content))
    assert image.format == "TIFF" and round(image.info["dpi"][0]) == int(dpi)
    assert client.get(url, {"dpi": "72"}).status_code == 404


def test_the_whole_report_as_pdf(client, investigator, study_runs):
    client.force_login(investigator)
    response = client.get(reverse("analysis:report-pdf"))
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")
    assert client.get(reverse("analysis:report-pdf"), {"trial": "MLL96"}).status_code == 404


def _report_queries(client, user):
    cache.clear()
    with CaptureQueriesContext(connection) as cold:
        assert client.get(REPORT).status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert client.get(REPORT).status_code == 200
    return len(cold), len(warm)


def test_the_report_costs_the_same_queries_whatever_the_number_of_patients(client, investigator, center, other_center):
    client.force_login(investigator)
    registry_cohort(3, center=center)
    compute_report()
    small = _report_queries(client, investigator)
    registry_cohort(15, center=other_center, start=3)
    compute_report()
    large = _report_queries(client, investigator)
    assert small == large
    assert large[1] <= large[0] <= 20
