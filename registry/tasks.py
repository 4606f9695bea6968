"""Celery tasks of the registry: thin, an ID in and a service call."""

from celery import shared_task


@shared_task(name="registry.run_import_job", acks_late=True)
def run_import_job(job_id):
    """Check or commit a large import file (``registry.transfer.imports.run_job``); safe to run again."""
    from .transfer.imports import run_job

    run_job(job_id)


@shared_task(name="registry.verify_audit_trail")
def verify_audit_trail():
    """Nightly: recompute the audit trail's hash chains and store the result (``registry.trail.run_check``)."""
    from .trail import run_check

    check = run_check()
    return None if check is None else {"ok": check.ok, "message": check.message}
