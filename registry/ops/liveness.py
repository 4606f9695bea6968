"""Signs of life of the Celery worker and beat, written to the database for /health/.

The worker's main process stamps :class:`~registry.ops.models.Heartbeat` every
``TASK_HEARTBEAT_SECONDS`` from its timer (``registry.ops.worker.WorkerHeartbeat``, a worker
bootstep added in registry/config/celery.py); beat stamps its own row as it ticks (:class:`BeatScheduler`, the
database scheduler of django-celery-beat plus that stamp). A SIGKILLed worker simply stops
stamping, which is what /health/ and the reaper look at.
"""

import logging
import time

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from .models import Heartbeat

log = logging.getLogger(__name__)


def stamp(name, kind):
    """Record that ``name`` (a worker's host name, or "beat") is alive now; never raises."""
    try:
        close_old_connections()
        Heartbeat.objects.update_or_create(name=name[:200], defaults={"kind": kind, "beat_at": timezone.now()})
    except Exception:  # the database is down: /health/ will say so; the worker carries on
        log.warning("Could not record the %s heartbeat of %s", kind, name, exc_info=True)


class BeatScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler that also stamps beat's heartbeat as it ticks."""

    _stamped = 0.0

    def tick(self, *args, **kwargs):
        result = super().tick(*args, **kwargs)
        if time.monotonic() - self._stamped >= settings.TASK_HEARTBEAT_SECONDS:
            stamp("beat", Heartbeat.Kind.BEAT)
            self._stamped = time.monotonic()
        return result
