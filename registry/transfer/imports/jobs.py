"""Import jobs: the uploaded file kept between its dry run and its commit, and the run of either.

The pages and the API call :func:`create_job` and :func:`start`; a large file runs as a Celery
task (``registry.tasks.run_import_job`` calls :func:`run_job`) that reports progress on the job row.
Its hand-off is durable (``registry.ops.handoff``): with the broker down the job stays queued and
is sent again until a worker takes it; a job whose worker is lost mid-way is run again once (a
commit is one transaction, so a lost worker wrote nothing), then marked failed with the reason.
"""

import hashlib
from pathlib import PurePath

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ...models import ImportJob
from ...ops import handoff
from .. import encodings, uploads
from ..uploads import ImportRejected
from .cells import Problem
from .courses import check_and_write
from .readers import check_entity, file_kind, read_tables

# Files larger than this are checked and committed by a Celery task with a progress bar.
ASYNC_BYTES = getattr(settings, "IMPORT_ASYNC_BYTES", 256 * 1024)
TASK = "registry.run_import_job"


def create_job(*, user, file_name, content, entity="", reason="", encoding=encodings.AUTO):
    """Store an uploaded file for checking; refuses unreadable files at once (ImportRejected).

    ``encoding`` is that of CSV files (``registry.transfer.encodings``); it rides in the job's
    report (``report["encoding"]``), which every run of the job keeps, so the commit reads the
    file as its dry run did.
    """
    name = PurePath(file_name or "upload").name[:200]
    file_kind(name)
    uploads.check_file_size(len(content))
    check_entity(entity)
    encoding = encoding or encodings.AUTO
    read_tables(name, content, entity, encoding)  # an unreadable file is refused now, not in a report later
    return ImportJob.objects.create(
        user=user,
        file_name=name,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        entity=entity or "",
        reason=(reason or "").strip()[:255],
        report={"encoding": encoding},
    )


def encoding_of(job):
    """The CSV encoding the job's file is read in (``auto`` for jobs stored before there was a choice)."""
    return (job.report or {}).get("encoding") or encodings.AUTO


def is_large(job):
    return len(job.content) > ASYNC_BYTES


def start(job, *, action):
    """Check (``action="check"``) or commit (``"commit"``) the job's file: in process for a small
    file, as a Celery task for a large one (the job then reports its progress)."""
    if action not in ("check", "commit"):
        raise ValueError(action)
    if action == "commit" and job.status != ImportJob.Status.CHECKED:
        raise ImportRejected(
            _("Only a file whose dry run found no problems can be committed; check it again."), status=409
        )
    job.action = action
    job.status = ImportJob.Status.QUEUED
    job.rows_done = 0
    if is_large(job):
        with transaction.atomic():
            job.save(update_fields=["action", "status", "rows_done"])
            handoff.enqueue(TASK, job.pk)
        return job
    job.save(update_fields=["action", "status", "rows_done"])
    return run_job(job.pk)


def undelivered(job):
    """True if the job waits for the broker (unreachable when it was queued)."""
    return job.status == ImportJob.Status.QUEUED and handoff.undelivered(TASK, [job.pk]) > 0


def run_job(job_id):
    """Run a queued job (the Celery task's body): dry run or commit, then store the report."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("user").get(pk=job_id)
        if job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
            return job  # already finished (a redelivered task)
        if job.status == ImportJob.Status.RUNNING and handoff.is_alive(TASK, job.pk):
            return job  # another worker is on it (a message sent twice)
        job.status = ImportJob.Status.RUNNING
        job.save(update_fields=["status"])
    with handoff.running(TASK, job.pk):
        job = _run(job)
    handoff.close(TASK, job.pk)
    return job


def _run(job):
    progress, close = _progress_writer(job)
    try:
        report = check_and_write(
            user=job.user,
            file_name=job.file_name,
            content=bytes(job.content),
            entity=job.entity,
            reason=job.reason,
            commit=job.action == "commit",
            progress=progress,
            encoding=encoding_of(job),
        )
    except ImportRejected as error:
        report = {
            "file_name": job.file_name,
            "committed": False,
            "rows": 0,
            "sheets": {},
            "problem_count": 1,
            "problems": [Problem("", None, "", error.message, "file").as_dict()],
            "problems_truncated": False,
            "encoding": encoding_of(job),
        }
    finally:
        close()
    job.report = report
    job.rows_total = report["rows"]
    job.rows_done = report["rows"]
    job.finished_at = timezone.now()
    if report["committed"]:
        job.status, job.committed_at = ImportJob.Status.COMMITTED, job.finished_at
    elif report["problem_count"]:
        job.status = ImportJob.Status.REJECTED
    else:
        job.status = ImportJob.Status.CHECKED
    job.save(update_fields=["report", "rows_total", "rows_done", "finished_at", "status", "committed_at"])
    return job


def mark_lost(job_id, reason, *, retry):
    """The job's worker was lost (``registry.ops.handoff``): queue it again, or fail it with the reason."""
    if retry:
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.QUEUED, rows_done=0
        )
        return
    report = {
        "file_name": "",
        "committed": False,
        "rows": 0,
        "sheets": {},
        "problem_count": 1,
        "problems": [Problem("", None, "", reason, "file").as_dict()],
        "problems_truncated": False,
    }
    ImportJob.objects.filter(pk=job_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]).update(
        status=ImportJob.Status.FAILED, report=report, finished_at=timezone.now()
    )


def _progress_writer(job):
    """Progress written from outside the import's transaction (PostgreSQL), so others can see it."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None, lambda: None
    private = connections.create_connection("default")

    def write(done, total):
        with private.cursor() as cursor:
            cursor.execute(
                "UPDATE registry_importjob SET rows_done = %s, rows_total = %s WHERE id = %s", [done, total, job.pk]
            )

    return write, private.close


def jobs_for(user):
    """A user's own import jobs (nobody sees another user's uploads)."""
    return ImportJob.objects.filter(user=user).defer("content")
