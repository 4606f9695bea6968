"""Thin Celery tasks: an ID in, a service call out (see analysis.runs).

Late acknowledgement and reject-on-worker-lost mean a run whose worker dies is delivered
again to another worker; ``execute_run`` is idempotent, so a repeat is harmless.
"""

from celery import shared_task

from . import runs
from .models import AnalysisRun


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(runs.AnalysisBusy,),
    retry_backoff=5,
    retry_backoff_max=120,
    max_retries=20,
)
def execute_run_task(self, run_id):
    return runs.execute_run(run_id).status


@shared_task
def run_all_analyses(trigger=AnalysisRun.Trigger.SCHEDULE):
    """Queue every analysis (the nightly schedule)."""
    return [run.pk for run in runs.request_all(trigger=trigger)]


@shared_task
def refresh_after_data_changes(quiet_seconds=120):
    """Queue every analysis once edits have stopped for ``quiet_seconds`` (every minute by beat), and
    keep the dashboard's counts of the current data revision ready for its next reader."""
    from .dashboard import study_counts

    study_counts()
    return [run.pk for run in runs.refresh_if_data_changed(quiet_seconds=quiet_seconds)]
