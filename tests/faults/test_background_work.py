"""Faults on the real services: the broker stopped during Compute and a large import, the worker's
main process SIGKILLed mid-run, /health/ with no worker alive.

Each test starts its own redis-server on a free port (never the machine's Redis on 6379, which
others use), a Celery worker and beat against the PostgreSQL test database, and breaks them on
purpose. Bounds are short (heartbeat 1 s, lost after 6 s, re-send after 3 s, a beat tick every
2 s) so every test ends in well under two minutes. Needs PostgreSQL and /usr/bin/redis-server;
skips without them, fails instead under REGISTRY_REQUIRE_SERVICES=1.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from analysis import analyses, runs
from analysis.models import AnalysisRun
from registry import services
from registry.config.celery import app
from registry.models import ImportJob
from registry.ops.models import Handoff
from registry.transfer.imports import jobs
from tests.analysis.test_tasks import Processes, database_url, wait_for
from tests.api.conftest import client_for
from tests.factories import relapsed_course, trial
from tests.test_imports import PATIENT_HEADER, patient_row

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
BOUNDS = {
    "TASK_HEARTBEAT_SECONDS": "1",
    "TASK_LOST_AFTER_SECONDS": "6",
    "TASK_RESEND_AFTER_SECONDS": "3",
    "WORKER_STALE_AFTER_SECONDS": "5",
    # Redelivery by the broker would hide the reaper: it must not come within the test.
    "CELERY_VISIBILITY_TIMEOUT": "3600",
    "LOG_FORMAT": "text",
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Redis:
    """A private redis-server that a test may stop and start again on the same port."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp_path = tmp_path
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _point_app_at(url):
    """This process (the web side) publishes to ``url`` from now on."""
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def redis_server(postgres_only, tmp_path, settings):
    if not os.path.exists(REDIS_SERVER):
        if os.getenv("REGISTRY_REQUIRE_SERVICES") == "1":
            pytest.fail(f"REGISTRY_REQUIRE_SERVICES=1 but {REDIS_SERVER} is missing")
        pytest.skip("needs redis-server")
    server = Redis(tmp_path)
    server.start()
    eager, broker_url = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager = False
    _point_app_at(server.url)
    settings.CELERY_BROKER_URL = server.url
    for name, value in BOUNDS.items():
        if name.startswith(("TASK_", "WORKER_")):
            setattr(settings, name, int(value))
    yield server
    server.stop()
    app.conf.task_always_eager = eager
    _point_app_at(broker_url)


@pytest.fixture
def processes(redis_server, tmp_path):
    procs = Processes(redis_server.url, tmp_path)
    procs.env.update(BOUNDS)
    # Beat: only the hand-off tick, every 2 s (the nightly and after-change schedules are off).
    PeriodicTask.objects.update(enabled=False)
    every_2s, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(
        name="test: deliver and reap",
        defaults={"task": "registry.ops.deliver_and_reap", "interval": every_2s, "enabled": True},
    )
    yield procs
    procs.stop_all()


@pytest.fixture
def cohort(center):
    return [relapsed_course(center=center) for _ in range(5)]


def statuses(model, ids):
    found = sorted(model.objects.filter(pk__in=ids).values_list("status", flat=True))
    if "failed" in found:  # no point waiting: say why
        errors = model.objects.filter(pk__in=ids, status="failed").values_list(
            "pk", "error" if model is AnalysisRun else "report"
        )
        pytest.fail(f"{model.__name__} failed: {list(errors)}")
    return found


def test_compute_with_the_broker_down_answers_202_and_runs_when_it_is_back(
    cohort, investigator, client, redis_server, processes
):
    processes.worker()
    processes.beat()
    redis_server.stop()
    client.force_login(investigator, backend="django.contrib.auth.backends.ModelBackend")
    started = time.monotonic()
    response = client.post("/reports/outcomes/recompute/", HTTP_ACCEPT="application/json")
    assert time.monotonic() - started < 10
    assert response.status_code == 202
    assert "unreachable" in response.json()["detail"]
    ids = response.json()["runs"]
    assert statuses(AnalysisRun, ids) == ["queued"] * len(analyses.REPORT_ANALYSES)
    time.sleep(2)
    redis_server.start()  # nobody touches the database from here on
    wait_for(
        lambda: statuses(AnalysisRun, ids) == ["succeeded"] * len(ids),
        timeout=120,
        processes=processes,
        what="the queued runs to complete once the broker is back",
    )
    assert Handoff.objects.filter(object_id__in=ids, task=runs.TASK, closed_at=None).count() == 0


def test_a_large_import_with_the_broker_down_answers_202_and_completes(
    coordinator, redis_server, processes, monkeypatch
):
    monkeypatch.setattr(jobs, "ASYNC_BYTES", 10)
    trial("MLL96")  # (a transactional test starts from empty tables)
    processes.worker()
    processes.beat()
    redis_server.stop()
    rows = [patient_row(f"MLL96-{i:04d}") for i in range(1, 21)]
    content = ("\n".join(",".join(r) for r in [PATIENT_HEADER, *rows]) + "\n").encode()
    upload = SimpleUploadedFile("patients.csv", content, content_type="text/csv")
    response = client_for(coordinator).post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    assert jobs.undelivered(ImportJob.objects.get(pk=job_id))
    redis_server.start()
    wait_for(
        lambda: statuses(ImportJob, [job_id]) not in (["queued"], ["running"]),
        timeout=90,
        processes=processes,
        what="the import's dry run once the broker is back",
    )
    job = ImportJob.objects.get(pk=job_id)
    assert job.status == "checked", job.report
    assert job.report["sheets"]["patients"]["create"] == 20


def test_a_run_whose_worker_is_sigkilled_is_retried_within_the_bound_and_the_refresh_runs(
    cohort, redis_server, processes
):
    # Hold the patient table so the run is caught mid-way (running, heartbeating) when its worker dies.
    blocker = psycopg.connect(database_url().replace("postgres://", "postgresql://"), autocommit=False)
    try:
        blocker.execute("LOCK TABLE registry_patient IN ACCESS EXCLUSIVE MODE")
        doomed = processes.worker("doomed")
        run = runs.request_run("cohort_summary", trigger=AnalysisRun.Trigger.ON_DEMAND)
        wait_for(
            lambda: Handoff.objects.filter(object_id=run.pk, task=runs.TASK, heartbeat_at__isnull=False).exists(),
            timeout=60,
            processes=processes,
            what="the run to start",
        )
        os.kill(doomed.pid, signal.SIGKILL)  # the main process, as an OOM killer or a host would
        killed_at = time.monotonic()
        time.sleep(0.5)
        processes.kill(doomed)  # its orphaned pool child too (it would otherwise finish the run itself)
    finally:
        blocker.rollback()
        blocker.close()
    assert AnalysisRun.objects.get(pk=run.pk).status == "running"
    processes.worker("rescuer")
    processes.beat()
    wait_for(
        lambda: AnalysisRun.objects.get(pk=run.pk).status == "succeeded",
        timeout=90,
        processes=processes,
        what="the lost run to be reaped and retried",
    )
    # Bound: lost after 6 s, a tick every 2 s, plus the run itself and the processes' start-up.
    assert time.monotonic() - killed_at < 60
    handoff = Handoff.objects.get(object_id=run.pk, task=runs.TASK)
    assert handoff.retries == 1 and "Worker lost" in handoff.lost_reason

    patient = cohort[0]
    patient.wbc = 123
    services.save_record(user=None, record=patient, reason="fault test", source="test")
    refreshed = runs.refresh_if_data_changed(quiet_seconds=0)
    assert len(refreshed) == len(runs.ANALYSES)
    ids = [r.pk for r in refreshed]
    wait_for(
        lambda: statuses(AnalysisRun, ids) == ["succeeded"] * len(ids),
        timeout=120,
        processes=processes,
        what="the refresh after the lost run",
    )


def test_health_reports_each_component_and_turns_503_with_no_worker_alive(client, redis_server, processes):
    worker = processes.worker()
    processes.beat()
    wait_for(
        lambda: client.get("/health/").status_code == 200, timeout=60, processes=processes, what="a healthy /health/"
    )
    body = client.get("/health/").json()
    assert body["database"]["ok"] and body["broker"]["ok"] and body["worker"]["ok"]
    assert body["worker"]["heartbeat_age_seconds"] < 5
    wait_for(
        lambda: client.get("/health/").json()["beat"]["last_tick_age_seconds"] is not None,
        timeout=30,
        processes=processes,
        what="beat's first tick",
    )
    processes.kill(worker)
    wait_for(
        lambda: client.get("/health/").status_code == 503, timeout=30, processes=processes, what="503 without a worker"
    )
    assert client.get("/health/").json()["worker"]["ok"] is False
    redis_server.stop()
    body = client.get("/health/").json()
    assert body["broker"]["ok"] is False and body["status"] == "unavailable"
    assert timezone.now()  # the database check still answers
    assert body["database"]["ok"] is True
