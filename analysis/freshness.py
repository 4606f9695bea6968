"""How fresh the stored study-wide results are, against the analyses' schedule (for /health/ and
the admins' banner on the dashboard)."""

from datetime import timedelta

from django.db.models import Max
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from .analyses import ANALYSES
from .models import AnalysisRun

SCHEDULED_TASK = "analysis.tasks.run_all_analyses"
# A scheduled run may take this long before its analyses count as late.
GRACE = timedelta(hours=1)


def latest_successes():
    """Analysis name -> when its newest successful study-wide run finished (None: never)."""
    finished = dict(
        AnalysisRun.objects.filter(status=AnalysisRun.Status.SUCCEEDED, parameters={}, data_cut=None)
        .values("name")
        .annotate(last=Max("finished_at"))
        .values_list("name", "last")
    )
    return {name: finished.get(name) for name in ANALYSES}


def schedules():
    """The celery schedules of the enabled periodic tasks that run every analysis."""
    return [task.schedule for task in PeriodicTask.objects.filter(task=SCHEDULED_TASK, enabled=True)]


def overdue(successes=None, now=None):
    """Names of the analyses whose newest success predates a scheduled run by more than GRACE
    (or that never succeeded while a schedule exists). None scheduled: none overdue."""
    now = now or timezone.now()
    successes = latest_successes() if successes is None else successes
    plans = schedules()
    if not plans:
        return []
    late = []
    for name, last in successes.items():
        if last is None or any(plan.remaining_estimate(last) < -GRACE for plan in plans):
            late.append(name)
    return late
