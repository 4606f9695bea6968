"""The Celery app. Without CELERY_BROKER_URL/REDIS_URL, tasks run eagerly in process."""

import os

from celery import Celery

from registry.ops.worker import WorkerHeartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.config.settings")

app = Celery("registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The worker's main process stamps its heartbeat for /health/ and the reaper (registry.ops.worker).
app.steps["worker"].add(WorkerHeartbeat)
