"""Runs on part of the study: parameters select the patients, and reuse respects them."""

import pytest

from analysis import runs
from analysis.models import AnalysisRun
from tests.factories import PatientFactory, relapsed_course, trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(center, other_center):
    patients = [relapsed_course(center=center) for _ in range(3)]
    patients += [
        relapsed_course(center=other_center, trial=trial("MLL98"), study_id=f"MLL98-{i + 1:04d}") for i in range(2)
    ]
    return patients


def run_now(name, parameters=None):
    run = AnalysisRun.objects.create(
        name=name, trigger=AnalysisRun.Trigger.COMMAND, parameters=runs.normalize_parameters(parameters)
    )
    return runs.execute_run(run.pk)


def test_parameters_are_canonical():
    assert runs.normalize_parameters(None) == {}
    assert runs.normalize_parameters({"trial": "", "center": None}) == {}
    assert list(runs.normalize_parameters({"trial": "MLL96", "center": "TKY01"})) == ["center", "trial"]
    with pytest.raises(ValueError, match="Unknown trial"):
        runs.normalize_parameters({"trial": "MLL2000"})
    with pytest.raises(ValueError, match="Unknown run parameters"):
        runs.normalize_parameters({"sex": "F"})


def test_a_filtered_run_reads_only_the_selected_patients(cohort):
    assert run_now("cohort_summary").n_patients == 5
    by_trial = run_now("cohort_summary", {"trial": "MLL98"})
    assert by_trial.n_patients == 2
    assert by_trial.results["by_trial"] == {"MLL98": 2}
    by_center = run_now("cohort_summary", {"center": "TKY01"})
    assert by_center.n_patients == 3 and by_center.results["by_center"] == {"TKY01": 3}
    assert run_now("cohort_summary", {"center": "TKY01", "trial": "MLL98"}).n_patients == 0


def test_reuse_and_latest_runs_match_parameters(cohort):
    whole = run_now("cohort_summary")
    part = run_now("cohort_summary", {"center": "TKY01"})
    assert part.reused_from_id is None and part.fingerprint != whole.fingerprint
    again = run_now("cohort_summary", {"center": "TKY01"})
    assert again.reused_from_id == part.pk
    assert runs.latest_runs()["cohort_summary"].pk == whole.pk
    assert runs.latest_runs({"center": "TKY01"})["cohort_summary"].pk == again.pk
    assert runs.latest_runs({"trial": "MLL96"})["cohort_summary"] is None


def test_request_run_stores_canonical_parameters(cohort, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.request_run("cohort_summary", trigger="on_demand", parameters={"trial": "MLL96", "center": ""})
    run.refresh_from_db()
    assert run.parameters == {"trial": "MLL96"}
    assert run.status == "succeeded" and run.n_patients == 3


def test_patient_characteristics_counts_table1(center):
    relapsed_course(center=center)
    PatientFactory(center=center, sex="M", cns_status="CNS3", wbc=350)
    run = run_now("patient_characteristics")
    results = run.results
    assert results["groups"] == {"recurrent_or_refractory": 1, "other": 1, "all": 2}
    sex = next(v for v in results["variables"] if v["variable"] == "sex")
    male = next(level for level in sex["levels"] if level["level"] == "M")
    assert male["counts"] == {"recurrent_or_refractory": 0, "other": 1, "all": 1}
    assert male["percents"]["all"] == 50.0
    wbc = next(v for v in results["variables"] if v["variable"] == "wbc")
    assert wbc["summary"]["all"] == {"n": 2, "median": 250.0, "min": 150.0, "max": 350.0}
