"""GET /health/: each component, 200 or 503, no login, no clinical data."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from analysis.models import AnalysisRun
from registry.config.celery import app
from registry.ops import health
from registry.ops.models import Heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_broker(settings, monkeypatch):
    """As in production: a broker configured (reachable unless a test says otherwise)."""
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    monkeypatch.setattr(health, "check_broker", lambda: {"ok": True, "ms": 0.1})
    yield
    app.conf.task_always_eager = eager


def test_in_process_mode_is_healthy_without_login(client):
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["broker"]["mode"] == "in process"
    assert set(body) >= {"database", "broker", "worker", "beat", "queue", "analyses"}


def test_no_worker_heartbeat_is_503(client, with_broker):
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["worker"] == {"ok": False, "heartbeat_age_seconds": None, "stale_after_seconds": 90}


def test_a_fresh_worker_heartbeat_is_200_and_a_stale_one_503(client, with_broker):
    Heartbeat.objects.create(name="worker@a", kind="worker", beat_at=timezone.now() - timedelta(seconds=5))
    Heartbeat.objects.create(name="beat", kind="beat", beat_at=timezone.now() - timedelta(seconds=2))
    body = client.get("/health/").json()
    assert body["status"] == "ok" and 4 < body["worker"]["heartbeat_age_seconds"] < 60
    assert 1 < body["beat"]["last_tick_age_seconds"] < 60
    Heartbeat.objects.filter(kind="worker").update(beat_at=timezone.now() - timedelta(minutes=5))
    assert client.get("/health/").status_code == 503


def test_broker_down_is_503(client, with_broker, monkeypatch):
    Heartbeat.objects.create(name="worker@a", kind="worker", beat_at=timezone.now())
    monkeypatch.setattr(health, "check_broker", lambda: {"ok": False, "error": "OperationalError"})
    response = client.get("/health/")
    assert response.status_code == 503 and response.json()["broker"]["ok"] is False


def test_the_real_broker_check_fails_fast_on_a_closed_port(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        assert health.check_broker()["ok"] is False
    finally:
        app.conf.task_always_eager = eager


def test_analysis_ages_and_the_oldest_queued_task(client, center):
    AnalysisRun.objects.create(
        name="cohort_summary", trigger="schedule", status="succeeded", finished_at=timezone.now() - timedelta(hours=2)
    )
    body = client.get("/health/").json()
    age = body["analyses"]["cohort_summary"]["latest_success_age_seconds"]
    assert 7100 < age < 7300
    assert body["analyses"]["os_after_second_line"]["latest_success_age_seconds"] is None
    assert body["queue"]["oldest_queued_age_seconds"] is None
    # Nothing clinical: no patient, center or user appears.
    assert "TKY01" not in client.get("/health/").content.decode()


def test_admins_see_a_banner_when_no_worker_is_alive_and_others_do_not(client, with_broker, admin_user, investigator):
    client.force_login(admin_user, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(reverse("analysis:dashboard")).content.decode()
    assert "No background worker is alive" in page
    client.force_login(investigator, backend="django.contrib.auth.backends.ModelBackend")
    assert "No background worker is alive" not in client.get(reverse("analysis:dashboard")).content.decode()


def test_admins_see_analyses_older_than_their_schedule(client, admin_user):
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    nightly, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="2", timezone="UTC")
    PeriodicTask.objects.get_or_create(
        name="nightly (test)", defaults={"task": "analysis.tasks.run_all_analyses", "crontab": nightly}
    )
    AnalysisRun.objects.create(
        name="cohort_summary", trigger="schedule", status="succeeded", finished_at=timezone.now() - timedelta(days=3)
    )
    client.force_login(admin_user, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(reverse("analysis:dashboard")).content.decode()
    assert "Analyses older than their schedule" in page
