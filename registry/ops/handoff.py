"""Durable hand-off of background work to Celery, and the reaper of work whose worker was lost.

A record that needs a worker (an analysis run, a large import job) is saved ``queued`` and
:func:`enqueue` writes its :class:`~registry.ops.models.Handoff` row in the same transaction
(the outbox), then sends the task once the transaction commits. If the broker is unreachable
the request still succeeds: the record stays ``queued`` and :func:`deliver_and_reap` (every
minute by beat) sends it again until the broker takes it. While a worker executes the record,
:func:`running` stamps a heartbeat every few seconds, and the worker writes the record's outcome
inside :func:`finishing` (one transaction with the close of its hand-off). A ``running`` record
whose heartbeat is older than ``TASK_LOST_AFTER_SECONDS`` lost its worker: it is re-queued once, and marked failed
with the reason if its worker is lost again.

Each kind of record registers itself (:func:`register`): its model (whose ``status`` uses
"queued" and "running") and how to mark it lost.
"""

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Handoff, Heartbeat, IdempotencyKey

log = logging.getLogger(__name__)

QUEUED, RUNNING = "queued", "running"
MAX_RETRIES = 1


@dataclass(frozen=True)
class Kind:
    task: str
    model: str  # "app_label.Model"
    on_lost: Callable  # on_lost(object_id, reason, *, retry) -> None: re-queue it (retry) or mark it failed

    @property
    def records(self):
        return apps.get_model(self.model).objects


KINDS = {}


def register(task, *, model, on_lost):
    KINDS[task] = Kind(task=task, model=model, on_lost=on_lost)


def heartbeat_seconds():
    return settings.TASK_HEARTBEAT_SECONDS


def lost_after():
    return timedelta(seconds=settings.TASK_LOST_AFTER_SECONDS)


def resend_after():
    return timedelta(seconds=settings.TASK_RESEND_AFTER_SECONDS)


# --- the web side: record, then send -------------------------------------------------------------


def enqueue(task, object_id):
    """Record that ``task(object_id)`` must run (in the caller's transaction) and send it after commit."""
    Handoff.objects.update_or_create(
        task=task,
        object_id=object_id,
        defaults={
            "opened_at": timezone.now(),
            "sent_at": None,
            "started_at": None,
            "heartbeat_at": None,
            "retries": 0,
            "lost_reason": "",
            "closed_at": None,
        },
    )
    transaction.on_commit(lambda: send(task, object_id))


def send(task, object_id):
    """Give ``task(object_id)`` to the broker; False (logged, not raised) if it is unreachable.

    In process (no broker configured) the task runs here and now.
    """
    from registry.config.celery import app

    if task not in app.tasks:
        app.loader.import_default_modules()  # the apps' tasks modules (autodiscovery is lazy)
    if app.conf.task_always_eager:
        _mark_sent(task, object_id)
        app.tasks[task].apply_async(args=[object_id])
        return True
    try:
        app.tasks[task].apply_async(args=[object_id])
    except Exception as error:  # the broker is down: the outbox row keeps the request
        log.warning("Broker unreachable; %s(%s) stays queued and is sent again later: %s", task, object_id, error)
        return False
    _mark_sent(task, object_id)
    return True


def _mark_sent(task, object_id):
    Handoff.objects.filter(task=task, object_id=object_id).update(sent_at=timezone.now(), sends=F("sends") + 1)


def undelivered(task, object_ids):
    """How many of these records the broker has not yet accepted (0 once it has, or in process)."""
    return Handoff.objects.filter(task=task, object_id__in=object_ids, closed_at=None, sent_at=None).count()


def undelivered_message():
    return _("Queued; the worker is unreachable and it will run when it is back.")


def live_q(task):
    """Records (with ``status``) still in hand: queued (the outbox delivers them), or running on a
    worker whose heartbeat is fresh. A running record whose worker died is not live."""
    fresh = Handoff.objects.filter(task=task, object_id=OuterRef("pk"), heartbeat_at__gte=timezone.now() - lost_after())
    return Q(status=QUEUED) | Q(status=RUNNING) & Exists(fresh)


def is_alive(task, object_id):
    """True if a worker executing ``task(object_id)`` stamped its heartbeat recently."""
    return Handoff.objects.filter(
        task=task, object_id=object_id, heartbeat_at__gte=timezone.now() - lost_after()
    ).exists()


# --- the worker side: heartbeat while running --------------------------------------------------


@contextmanager
def running(task, object_id):
    """Stamp the record's heartbeat now and, on PostgreSQL outside a transaction, every
    ``TASK_HEARTBEAT_SECONDS`` from a thread (with its own connection) until the block ends."""
    now = timezone.now()
    Handoff.objects.filter(task=task, object_id=object_id).update(started_at=now, heartbeat_at=now)
    stop = threading.Event()
    thread = None
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        thread = threading.Thread(target=_beat, args=(task, object_id, stop), daemon=True, name="heartbeat")
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=5)


def _beat(task, object_id, stop):
    from django.db import connection as own

    try:
        while not stop.wait(heartbeat_seconds()):
            try:
                Handoff.objects.filter(task=task, object_id=object_id).update(heartbeat_at=timezone.now())
            except Exception:  # a database hiccup must not kill the task; the next beat tries again
                log.warning("Heartbeat of %s(%s) not written", task, object_id, exc_info=True)
    finally:
        own.close()


def close(task, object_id):
    """The record finished (whatever its outcome): stop watching it."""
    Handoff.objects.filter(task=task, object_id=object_id, closed_at=None).update(closed_at=timezone.now())


@contextmanager
def finishing(task, object_id):
    """A block that writes the record's outcome, in one transaction with the close of its hand-off:
    a finished record is never seen still handed off, nor a closed hand-off with its record unfinished."""
    with transaction.atomic():
        yield
        close(task, object_id)


# --- the beat side: re-send, reap, adopt ----------------------------------------------------------


def reap(kind, record_id, handoff=None):
    """Handle a running record whose heartbeat stopped: re-queue it once, else mark it failed."""
    handoff = handoff or Handoff.objects.filter(task=kind.task, object_id=record_id).first()
    if handoff is None:
        return None
    seen = handoff.heartbeat_at or handoff.started_at or handoff.opened_at
    reason = _("Worker lost: no sign of life since %(time)s UTC (bound %(bound)s s).") % {
        "time": f"{seen:%Y-%m-%d %H:%M:%S}",
        "bound": settings.TASK_LOST_AFTER_SECONDS,
    }
    retry = handoff.retries < MAX_RETRIES
    with transaction.atomic():
        kind.on_lost(record_id, reason, retry=retry)
        changes = {"lost_reason": reason, "heartbeat_at": None, "started_at": None}
        if retry:
            changes.update(retries=handoff.retries + 1, sent_at=None)
        else:
            changes.update(closed_at=timezone.now())
        Handoff.objects.filter(pk=handoff.pk).update(**changes)
    log.warning("%s(%s): %s %s", kind.task, record_id, reason, "Re-queued." if retry else "Marked failed.")
    if retry:
        send(kind.task, record_id)
    return "retried" if retry else "lost"


def deliver_and_reap():
    """One beat tick: close finished hand-offs, re-send queued ones, reap lost ones, adopt orphans.

    Never raises for a broker outage (sending only logs). Returns counts for the log.
    """
    now = timezone.now()
    counts = {"closed": 0, "sent": 0, "retried": 0, "lost": 0, "adopted": 0}
    for kind in KINDS.values():
        counts["adopted"] += _adopt(kind, now)
        open_ = {h.object_id: h for h in Handoff.objects.filter(task=kind.task, closed_at=None)}
        statuses = dict(kind.records.filter(pk__in=list(open_)).values_list("pk", "status"))
        for object_id, handoff in open_.items():
            status = statuses.get(object_id)
            if status not in (QUEUED, RUNNING):
                close(kind.task, object_id)
                counts["closed"] += 1
            elif status == QUEUED and (handoff.sent_at is None or handoff.sent_at < now - resend_after()):
                counts["sent"] += send(kind.task, object_id)
            elif status == RUNNING and (handoff.heartbeat_at or handoff.opened_at) < now - lost_after():
                counts[reap(kind, object_id, handoff)] += 1
    IdempotencyKey.objects.filter(created_at__lt=now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)).delete()
    Heartbeat.objects.filter(beat_at__lt=now - timedelta(days=1)).delete()
    Handoff.objects.filter(closed_at__lt=now - timedelta(days=30)).delete()
    return counts


def _adopt(kind, now):
    """Queued or running records without an open hand-off (written before there was one, or by
    hand) get one, so they are delivered too."""
    watched = Handoff.objects.filter(task=kind.task, object_id=OuterRef("pk"), closed_at=None)
    orphans = list(
        kind.records.filter(status__in=[QUEUED, RUNNING], created_at__lt=now - resend_after())
        .exclude(Exists(watched))
        .values_list("pk", flat=True)
    )
    for object_id in orphans:
        Handoff.objects.update_or_create(
            task=kind.task, object_id=object_id, defaults={"opened_at": now, "sent_at": None, "closed_at": None}
        )
    return len(orphans)


def oldest_queued_age(now=None):
    """Seconds since the oldest open hand-off whose record waits for a worker was requested; None if none."""
    now = now or timezone.now()
    oldest = None
    for kind in KINDS.values():
        waiting = Handoff.objects.filter(task=kind.task, closed_at=None, heartbeat_at=None).filter(
            Exists(kind.records.filter(pk=OuterRef("object_id"), status=QUEUED))
        )
        first = waiting.order_by("opened_at").values_list("opened_at", flat=True).first()
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    return None if oldest is None else (now - oldest).total_seconds()
