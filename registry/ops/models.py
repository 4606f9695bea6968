"""The tables of operations: the hand-off outbox, liveness heartbeats and idempotency keys."""

from django.conf import settings
from django.db import models


class Handoff(models.Model):
    """The outbox row of one background task for one record (an analysis run, an import job).

    Written in the same transaction as the record's ``queued`` status, so a request for work
    and its delivery cannot diverge: until the record is finished a beat tick re-sends it
    (``registry.ops.handoff.deliver_and_reap``). While a worker executes it, ``heartbeat_at``
    moves every few seconds; a running record whose heartbeat stopped lost its worker.
    """

    task = models.CharField(max_length=100, help_text="Celery task name; its one argument is object_id.")
    object_id = models.PositiveBigIntegerField()
    opened_at = models.DateTimeField(help_text="When the work was requested (again).")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Last time the broker accepted it.")
    sends = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="The worker's last sign of life.")
    retries = models.PositiveSmallIntegerField(default=0, help_text="Times re-queued after its worker was lost.")
    lost_reason = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="The record finished; no longer watched.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "object_id"], name="ops_one_handoff_per_record")]
        indexes = [models.Index(fields=["closed_at", "opened_at"], name="ops_handoff_open")]

    def __str__(self):
        return f"{self.task}({self.object_id})"


class Heartbeat(models.Model):
    """A Celery worker's or beat's last sign of life (for /health/ and the dashboard)."""

    class Kind(models.TextChoices):
        WORKER = "worker", "Worker"
        BEAT = "beat", "Beat"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    beat_at = models.DateTimeField()

    def __str__(self):
        return f"{self.kind} {self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class IdempotencyKey(models.Model):
    """The first response to an API POST sent with ``Idempotency-Key``; a retry gets it again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.PositiveSmallIntegerField()
    content_type = models.CharField(max_length=100)
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="ops_one_response_per_key")]
        indexes = [models.Index(fields=["created_at"], name="ops_idempotency_created")]

    def __str__(self):
        return f"{self.key} ({self.status})"
