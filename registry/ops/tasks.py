"""The beat task of operations: deliver queued work and reap work whose worker was lost."""

import logging

from celery import shared_task

from . import handoff

log = logging.getLogger(__name__)


@shared_task(name="registry.ops.deliver_and_reap", ignore_result=True)
def deliver_and_reap():
    """Every minute by beat (see docs/operations.md)."""
    counts = handoff.deliver_and_reap()
    if any(counts.values()):
        log.info("Hand-offs: %s", counts)
    return counts
