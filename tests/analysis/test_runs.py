"""Analysis runs: stored with fingerprints, reused when nothing changed, one at a time."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analysis import figures, runs
from analysis.models import AnalysisRun
from registry import services
from registry.models import DataRevision
from registry.ops.models import Handoff
from tests.factories import relapsed_course

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def cohort(center):
    return [relapsed_course(center=center) for _ in range(4)]


def run_now(name):
    run = AnalysisRun.objects.create(name=name, trigger=AnalysisRun.Trigger.COMMAND)
    return runs.execute_run(run.pk)


def test_a_run_stores_results_fingerprint_code_and_timings(cohort):
    run = run_now("os_after_second_line")
    assert run.status == "succeeded", run.error
    assert run.n_patients == 4
    assert len(run.fingerprint) == 64
    assert run.code_version == runs.CODE_VERSION
    assert run.data_revision == DataRevision.current().revision
    assert run.started_at <= run.finished_at and run.duration_seconds > 0
    assert run.results["schema"] == "os_after_second_line/1"
    assert run.results["n"] == 4
    assert run.figures["os_overall"].lstrip().startswith("<?xml")
    stages = ("extraction", "frames", "fingerprint", "statistics", "figures", "storage")
    assert set(run.stage_seconds) <= set(stages) and {"statistics", "figures", "storage"} <= set(run.stage_seconds)


def test_every_analysis_runs_on_the_cohort(cohort):
    for name in runs.ANALYSES:
        run = run_now(name)
        assert run.status == "succeeded", f"{name}: {run.error}"


def test_a_runs_results_are_written_while_its_figures_are_drawn(postgres_only, cohort, monkeypatch):
    statements, before_drawing = [], []

    def logged(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    to_svg = figures.to_svg

    def drawing(spec):
        before_drawing.append(list(statements))
        return to_svg(spec)

    monkeypatch.setattr(figures, "to_svg", drawing)
    with connection.execute_wrapper(logged):
        run = run_now("os_after_second_line")
    assert run.status == "succeeded", run.error
    # Sent before the first figure is drawn (PostgreSQL: in pipeline mode); the save at the end leaves the results out.
    assert before_drawing[0][-1].startswith('UPDATE "analysis_analysisrun" SET "results" = ')
    saved = [sql for sql in statements if sql.startswith('UPDATE "analysis_analysisrun"') and '"figures"' in sql]
    assert len(saved) == 1 and '"results"' not in saved[0]
    stored = AnalysisRun.objects.get(pk=run.pk)
    assert (stored.results, stored.figures, stored.status) == (run.results, run.figures, "succeeded")


@pytest.mark.django_db(transaction=True)
def test_a_runs_outcome_and_the_close_of_its_hand_off_commit_together(seen_at_hand_off_close, cohort):
    """A watcher (another connection) never sees a finished run still handed off: when the hand-off is
    closed, the run's outcome is not yet committed either."""
    seen = seen_at_hand_off_close("analysis_analysisrun")
    run = runs.request_run("cohort_summary", trigger=AnalysisRun.Trigger.ON_DEMAND)  # in process: run here
    assert seen == ["running"]
    assert AnalysisRun.objects.get(pk=run.pk).status == "succeeded"
    assert Handoff.objects.get(object_id=run.pk, task=runs.TASK).closed_at is not None


def test_unchanged_data_reuses_the_stored_run(cohort):
    first = run_now("os_after_second_line")
    second = run_now("os_after_second_line")
    assert second.reused_from_id == first.pk
    assert second.results == first.results
    patient = cohort[0]
    patient.wbc = 400
    services.save_record(user=None, record=patient, reason="lab report", source="test")
    third = run_now("os_after_second_line")
    assert third.reused_from_id is None
    assert third.fingerprint != first.fingerprint


def test_executing_a_succeeded_run_again_does_nothing(cohort):
    run = run_now("cohort_summary")
    finished = run.finished_at
    again = runs.execute_run(run.pk)
    assert again.finished_at == finished
    assert again.attempts == 1


def test_a_failure_is_stored_with_its_error(cohort, monkeypatch):
    def broken(frames):
        raise RuntimeError("numerical trouble")

    monkeypatch.setitem(runs.ANALYSES, "cohort_summary", replace(runs.ANALYSES["cohort_summary"], compute=broken))
    run = run_now("cohort_summary")
    assert run.status == "failed"
    assert "numerical trouble" in run.error
    assert run.finished_at is not None


def test_only_one_run_of_an_analysis_at_a_time(cohort):
    running = AnalysisRun.objects.create(
        name="cohort_summary", trigger="command", status="running", started_at=timezone.now()
    )
    Handoff.objects.create(task=runs.TASK, object_id=running.pk, opened_at=timezone.now(), heartbeat_at=timezone.now())
    waiting = AnalysisRun.objects.create(name="cohort_summary", trigger="command")
    with pytest.raises(runs.AnalysisBusy):
        runs.execute_run(waiting.pk)
    # A run whose worker stopped stamping its heartbeat no longer blocks: it is queued again once.
    Handoff.objects.filter(object_id=running.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=30))
    assert runs.execute_run(waiting.pk).status == "succeeded"
    # In process the re-queued run is executed at once.
    assert AnalysisRun.objects.get(pk=running.pk).status == "succeeded"
    handoff = Handoff.objects.get(object_id=running.pk)
    assert handoff.retries == 1 and "Worker lost" in handoff.lost_reason


def test_a_queued_run_is_claimed_and_read_back_in_one_statement_once(cohort):
    run = AnalysisRun.objects.create(name="cohort_summary", trigger="command", parameters={"trial": "MLL98"})
    with CaptureQueriesContext(connection) as statements:
        claimed = runs._claim(run.pk)
    # (inside the test's transaction, within a savepoint of its own)
    assert [q["sql"].split()[0] for q in statements] == ["SAVEPOINT", "UPDATE", "RELEASE"]
    assert (claimed.status, claimed.attempts, claimed.parameters, claimed.name) == (
        "running",
        1,
        {"trial": "MLL98"},
        "cohort_summary",
    )
    stored = AnalysisRun.objects.get(pk=run.pk)
    assert (stored.status, stored.attempts, stored.started_at) == ("running", 1, claimed.started_at)
    # A second delivery claims nothing: the run is no longer queued.
    assert runs._claim(run.pk) is None
    assert AnalysisRun.objects.get(pk=run.pk).attempts == 1


def test_a_queued_run_refused_by_another_running_run_of_its_analysis_is_not_claimed(cohort):
    AnalysisRun.objects.create(name="cohort_summary", trigger="command", status="running", started_at=timezone.now())
    waiting = AnalysisRun.objects.create(name="cohort_summary", trigger="command")
    with transaction.atomic():  # the refusal leaves an enclosing transaction usable
        assert runs._claim(waiting.pk) is None
        assert AnalysisRun.objects.get(pk=waiting.pk).status == "queued"


def test_a_run_running_on_a_live_worker_is_not_executed_twice(cohort):
    run = AnalysisRun.objects.create(name="cohort_summary", trigger="command", status="running")
    Handoff.objects.create(task=runs.TASK, object_id=run.pk, opened_at=timezone.now(), heartbeat_at=timezone.now())
    with pytest.raises(runs.AnalysisBusy):
        runs.execute_run(run.pk)
    assert AnalysisRun.objects.get(pk=run.pk).attempts == 0


def test_request_run_executes_after_commit(cohort, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.request_run("cohort_summary", trigger="on_demand")
    run.refresh_from_db()
    assert run.status == "succeeded"


def test_unknown_analysis_is_refused():
    with pytest.raises(ValueError, match="Unknown analysis 'nope'"):
        runs.request_run("nope", trigger="on_demand")


def test_a_burst_of_edits_gives_one_set_of_runs_after_a_quiet_period(cohort, django_capture_on_commit_callbacks):
    patient = cohort[0]
    for i in range(80):
        patient.wbc = 100 + i
        services.save_record(user=None, record=patient, reason=f"edit {i}", source="test")
    # Still within the quiet period: nothing queued.
    assert runs.refresh_if_data_changed(quiet_seconds=120) == []
    DataRevision.objects.update(changed_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        queued = runs.refresh_if_data_changed(quiet_seconds=120)
    assert len(queued) == len(runs.ANALYSES)
    # The data has not changed since: the next check queues nothing.
    assert runs.refresh_if_data_changed(quiet_seconds=120) == []
    assert AnalysisRun.objects.filter(trigger="data_change").count() == len(runs.ANALYSES)
