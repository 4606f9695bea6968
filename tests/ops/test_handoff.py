"""registry.ops.handoff: the outbox survives a broker outage; lost work is re-queued once, then failed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from analysis import runs
from analysis.models import AnalysisRun
from analysis.tasks import execute_run_task
from registry.config.celery import app
from registry.ops import handoff
from registry.ops.models import Handoff
from tests.factories import relapsed_course

pytestmark = pytest.mark.django_db


class BrokerDown(Exception):
    pass


class FakeBroker:
    """Stands in for Redis: records what is published, or refuses as a broker that is down."""

    def __init__(self):
        self.sent = []
        self.up = True

    def apply_async(self, args):
        if not self.up:
            raise BrokerDown("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
        self.sent.append(args)


@pytest.fixture
def broker(monkeypatch):
    """Tasks are published to a fake broker instead of running in process."""
    fake = FakeBroker()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    monkeypatch.setattr(execute_run_task, "apply_async", fake.apply_async)
    yield fake
    app.conf.task_always_eager = eager


@pytest.fixture
def broker_down(broker):
    broker.up = False
    return broker


@pytest.fixture
def cohort(center):
    return [relapsed_course(center=center) for _ in range(3)]


def test_broker_down_leaves_the_run_queued_in_the_outbox(broker_down, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.request_run("cohort_summary", trigger="on_demand")
    run.refresh_from_db()
    assert run.status == "queued"
    row = Handoff.objects.get(task=runs.TASK, object_id=run.pk)
    assert row.sent_at is None and row.closed_at is None
    assert runs.undelivered([run]) == 1


def test_the_beat_tick_sends_queued_runs_once_the_broker_is_back(cohort, broker_down):
    run = runs.request_run("cohort_summary", trigger="on_demand")
    handoff.send(runs.TASK, run.pk)  # what the commit would do: refused
    assert broker_down.sent == []
    broker_down.up = True
    counts = handoff.deliver_and_reap()
    assert counts["sent"] == 1 and broker_down.sent == [[run.pk]]
    assert Handoff.objects.get(object_id=run.pk).sent_at is not None


def test_a_delivered_run_executes_and_closes_its_handoff(cohort, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.request_run("cohort_summary", trigger="on_demand")
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert Handoff.objects.get(object_id=run.pk).closed_at is not None


def test_a_sent_run_is_not_sent_again_before_the_bound(cohort, django_capture_on_commit_callbacks, broker):
    sent = broker.sent
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.request_run("cohort_summary", trigger="on_demand")
    assert sent == [[run.pk]]
    handoff.deliver_and_reap()
    assert sent == [[run.pk]]
    Handoff.objects.filter(object_id=run.pk).update(sent_at=timezone.now() - timedelta(minutes=5))
    handoff.deliver_and_reap()
    assert sent == [[run.pk], [run.pk]]


def _running_with_dead_worker(minutes=10, retries=0):
    run = AnalysisRun.objects.create(name="cohort_summary", trigger="schedule", status="running")
    Handoff.objects.create(
        task=runs.TASK,
        object_id=run.pk,
        opened_at=timezone.now() - timedelta(minutes=minutes + 1),
        sent_at=timezone.now() - timedelta(minutes=minutes + 1),
        heartbeat_at=timezone.now() - timedelta(minutes=minutes),
        retries=retries,
    )
    return run


def test_a_run_whose_worker_died_is_retried_once(cohort):
    run = _running_with_dead_worker()
    counts = handoff.deliver_and_reap()
    assert counts["retried"] == 1
    run.refresh_from_db()
    assert run.status == "succeeded"  # re-sent, and run in process here
    assert "Worker lost" in Handoff.objects.get(object_id=run.pk).lost_reason


def test_a_run_lost_twice_is_marked_failed_with_the_reason(cohort):
    run = _running_with_dead_worker(retries=1)
    assert handoff.deliver_and_reap()["lost"] == 1
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("Worker lost: no sign of life since")


def test_a_live_worker_is_left_alone(cohort):
    run = _running_with_dead_worker()
    Handoff.objects.filter(object_id=run.pk).update(heartbeat_at=timezone.now())
    assert handoff.deliver_and_reap() == {"closed": 0, "sent": 0, "retried": 0, "lost": 0, "adopted": 0}
    assert AnalysisRun.objects.get(pk=run.pk).status == "running"


def test_an_orphan_queued_run_without_a_handoff_is_adopted_and_run(cohort):
    run = AnalysisRun.objects.create(name="cohort_summary", trigger="data_change")
    AnalysisRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))
    counts = handoff.deliver_and_reap()
    assert counts["adopted"] == 1
    handoff.deliver_and_reap()
    assert AnalysisRun.objects.get(pk=run.pk).status == "succeeded"


def test_the_refresh_does_not_wait_on_a_dead_run(cohort, broker):
    from registry.models import DataRevision

    _running_with_dead_worker()
    DataRevision.objects.update(changed_at=timezone.now() - timedelta(minutes=10))
    queued = runs.refresh_if_data_changed()
    assert len(queued) == len(runs.ANALYSES)


def test_the_refresh_waits_on_a_live_run(cohort):
    from registry.models import DataRevision

    run = _running_with_dead_worker()
    Handoff.objects.filter(object_id=run.pk).update(heartbeat_at=timezone.now())
    DataRevision.objects.update(changed_at=timezone.now() - timedelta(minutes=10))
    assert runs.refresh_if_data_changed() == []


def test_the_beat_tick_survives_a_broker_outage(cohort, broker_down):
    run = AnalysisRun.objects.create(name="cohort_summary", trigger="schedule")
    Handoff.objects.create(task=runs.TASK, object_id=run.pk, opened_at=timezone.now())
    counts = handoff.deliver_and_reap()
    assert counts["sent"] == 0
    assert AnalysisRun.objects.get(pk=run.pk).status == "queued"
