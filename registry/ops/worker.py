"""The worker bootstep that stamps the worker's heartbeat (imported by the Celery app before
Django is set up, so it reaches the models only when the worker starts)."""

from celery import bootsteps
from django.conf import settings


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Every TASK_HEARTBEAT_SECONDS, from the main process's timer: ``liveness.stamp``."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_ref = None

    def start(self, worker):
        from .liveness import stamp
        from .models import Heartbeat

        stamp(worker.hostname, Heartbeat.Kind.WORKER)
        self.timer_ref = worker.timer.call_repeatedly(
            settings.TASK_HEARTBEAT_SECONDS, stamp, (worker.hostname, Heartbeat.Kind.WORKER), priority=10
        )

    def stop(self, worker):
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None
