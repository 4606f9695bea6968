"""Thin Celery tasks of data management: the data-quality rules, nightly (beat) and after imports."""

from celery import shared_task


@shared_task(name="registry.queries.run_quality_checks", acks_late=True)
def run_quality_checks():
    """Run every data-quality rule as the system (``services.run_quality_checks``); safe to repeat."""
    from .services import run_quality_checks as run

    return run()
