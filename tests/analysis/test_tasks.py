"""Analysis tasks on the real broker: Redis, a Celery worker and beat, started by the test.

These tests need PostgreSQL (the worker is another process, so it must see committed data in a
real server database) and Redis; they skip without them, and fail instead under
REGISTRY_REQUIRE_SERVICES=1 (CI).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from analysis import runs
from analysis.models import AnalysisRun
from registry.config.celery import app
from tests.factories import relapsed_course

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def database_url():
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def broker(postgres_only, redis_url):
    """A clean Redis database for the broker, and eager mode off in this process."""
    redis.Redis.from_url(redis_url).flushdb()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield redis_url
    app.conf.task_always_eager = eager
    redis.Redis.from_url(redis_url).flushdb()


class Processes:
    """Celery worker and beat processes for one test, each in its own process group."""

    def __init__(self, redis_url, tmp_path):
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "CELERY_VISIBILITY_TIMEOUT": "3",
            "DATABASE_CONN_MAX_AGE": "0",
            # A run's heartbeat every second; silent for 6 s, its worker is lost (registry.ops.handoff).
            "TASK_HEARTBEAT_SECONDS": "1",
            "TASK_LOST_AFTER_SECONDS": "6",
        }
        self.tmp_path = tmp_path
        self.started = []

    def start(self, *args, name):
        log = open(self.tmp_path / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "registry", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(proc)
        return proc

    def worker(self, name="worker"):
        return self.start(
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"{name}-{os.getpid()}@%h",
            name=name,
        )

    def beat(self):
        return self.start(
            "beat",
            "--loglevel",
            "INFO",
            "--max-interval",
            "1",
            "--schedule",
            str(self.tmp_path / "beat-schedule"),
            name="beat",
        )

    @staticmethod
    def kill(proc):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def logs(self):
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.tmp_path.glob("*.log"))

    def stop_all(self):
        for proc in self.started:
            self.kill(proc)


@pytest.fixture
def processes(broker, tmp_path):
    procs = Processes(broker, tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def cohort(center):
    return [relapsed_course(center=center) for _ in range(5)]


def wait_for(predicate, *, timeout, processes, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n--- logs ---\n{processes.logs()}")


def status(run):
    return AnalysisRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()


def test_an_on_demand_run_completes_on_a_real_worker(cohort, processes):
    processes.worker()
    run = runs.request_run("os_after_second_line", trigger=AnalysisRun.Trigger.ON_DEMAND)
    wait_for(lambda: status(run) == "succeeded", timeout=90, processes=processes, what="the on-demand run")
    run.refresh_from_db()
    assert len(run.fingerprint) == 64
    assert run.results["n"] == 5
    assert run.trigger == "on_demand"


def test_a_scheduled_run_is_started_by_beat_and_completes(cohort, processes):
    every_second, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="test: all analyses",
        task="analysis.tasks.run_all_analyses",
        interval=every_second,
        kwargs='{"trigger": "schedule"}',
        one_off=True,
    )
    processes.worker()
    processes.beat()
    scheduled = AnalysisRun.objects.filter(trigger="schedule")
    wait_for(
        lambda: scheduled.filter(status="succeeded").count() == len(runs.ANALYSES),
        timeout=150,
        processes=processes,
        what="every scheduled run to succeed",
    )
    assert all(len(fp) == 64 for fp in scheduled.values_list("fingerprint", flat=True))


def test_a_run_whose_worker_is_killed_completes_on_a_restarted_worker(cohort, processes):
    # Hold a lock on the patient table from another connection, so the run is caught mid-way:
    # marked running, waiting to read the cohort, when its worker is killed.
    blocker = psycopg.connect(database_url().replace("postgres://", "postgresql://"), autocommit=False)
    try:
        blocker.execute("LOCK TABLE registry_patient IN ACCESS EXCLUSIVE MODE")
        first = processes.worker("doomed")
        run = runs.request_run("cohort_summary", trigger=AnalysisRun.Trigger.ON_DEMAND)
        wait_for(lambda: status(run) == "running", timeout=60, processes=processes, what="the run to start")
        processes.kill(first)
    finally:
        blocker.rollback()
        blocker.close()
    assert status(run) == "running"
    processes.worker("rescuer")
    wait_for(lambda: status(run) == "succeeded", timeout=120, processes=processes, what="the run to be redelivered")
    run.refresh_from_db()
    assert run.attempts == 2
    assert run.results["n_registered"] == 5


def test_the_analyses_of_a_refresh_are_shared_out_among_several_workers(cohort, processes):
    # Each analysis is its own task (one hand-off per run): two workers, one task at a time each,
    # both take part, and every run reads the same data.
    workers = {name: processes.worker(name) for name in ("worker-a", "worker-b")}
    logs = {name: processes.tmp_path / f"{name}.log" for name in workers}
    wait_for(
        lambda: all("ready" in path.read_text(errors="replace") for path in logs.values()),
        timeout=90,
        processes=processes,
        what="both workers to be ready",
    )
    requested = runs.request_all(trigger=AnalysisRun.Trigger.ON_DEMAND)
    done = AnalysisRun.objects.filter(pk__in=[run.pk for run in requested], status="succeeded")
    wait_for(lambda: done.count() == len(requested), timeout=180, processes=processes, what="every run to succeed")
    executed = {name: path.read_text(errors="replace").count("execute_run_task[") for name, path in logs.items()}
    assert all(executed.values()), executed
    assert set(done.values_list("data_revision", flat=True)) == {done.first().data_revision}
