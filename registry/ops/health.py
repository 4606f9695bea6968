"""``GET /health/``: is the registry able to do its work? For load balancers and monitoring.

JSON without login and without clinical data: the database, the broker, the newest worker
heartbeat, beat's last tick, the oldest task waiting for a worker, and the age of the newest
successful study-wide run of each analysis. 200 when healthy; 503 when the database or the
broker is down or no worker stamped its heartbeat within WORKER_STALE_AFTER_SECONDS. Without a
broker (tasks in process, the laptop default) there is no broker or worker to check.
"""

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import handoff
from .models import Heartbeat

BROKER_TIMEOUT_SECONDS = 2


def _age(moment, now):
    return None if moment is None else round((now - moment).total_seconds(), 1)


def check_database():
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "ms": round(1000 * (time.perf_counter() - started), 1)}


def check_broker():
    from registry.config.celery import app

    if app.conf.task_always_eager or not settings.CELERY_BROKER_URL:
        return {"ok": True, "mode": "in process"}
    started = time.perf_counter()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as error:
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "ms": round(1000 * (time.perf_counter() - started), 1)}


def components(now=None):
    """The health report (a dict) and whether it is healthy."""
    from analysis import freshness

    now = now or timezone.now()
    report = {"database": check_database(), "broker": check_broker()}
    in_process = report["broker"].get("mode") == "in process"
    if not report["database"]["ok"]:
        return report, False
    worker = Heartbeat.objects.filter(kind=Heartbeat.Kind.WORKER).order_by("-beat_at").first()
    beat = Heartbeat.objects.filter(kind=Heartbeat.Kind.BEAT).order_by("-beat_at").first()
    worker_age = _age(worker and worker.beat_at, now)
    report["worker"] = {
        "ok": in_process or (worker_age is not None and worker_age <= settings.WORKER_STALE_AFTER_SECONDS),
        "heartbeat_age_seconds": worker_age,
        "stale_after_seconds": settings.WORKER_STALE_AFTER_SECONDS,
    }
    if in_process:
        report["worker"]["mode"] = "in process"
    report["beat"] = {"last_tick_age_seconds": _age(beat and beat.beat_at, now)}
    report["queue"] = {"oldest_queued_age_seconds": handoff.oldest_queued_age(now)}
    successes = freshness.latest_successes()
    late = set(freshness.overdue(successes, now))
    report["analyses"] = {
        name: {"latest_success_age_seconds": _age(last, now), "overdue": name in late}
        for name, last in successes.items()
    }
    healthy = report["broker"]["ok"] and report["worker"]["ok"]
    return report, healthy


@never_cache
@require_GET
def health(request):
    report, healthy = components()
    return JsonResponse({"status": "ok" if healthy else "unavailable", **report}, status=200 if healthy else 503)
