"""Import jobs: the uploaded file kept between its dry run and its commit, and the run of either.

The pages and the API call :func:`create_job` and :func:`start`; a large file runs as a Celery
task (``registry.tasks.run_import_job`` calls :func:`run_job`) that reports progress on the job row.
Its hand-off is durable (``registry.ops.handoff``): with the broker down the job stays queued and
is sent again until a worker takes it; a job whose worker is lost mid-way is run again once (a
commit is one transaction, so a lost worker wrote nothing), then marked failed with the reason.

The report's messages are in the language of the person who started the run: :func:`start`
records the active language in ``report["language"]`` and the run (in process or in the
worker, which has no request) renders every problem under ``translation.override`` of it.
A report is therefore read in the language it was checked in; checking the file again in the
other language renders it anew.
"""

import hashlib
from pathlib import PurePath

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone, translation
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
_LANGUAGES = {code for code, _name in settings.LANGUAGES}


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


def language_of(job):
    """The language the job's report is written in: that of whoever started its last run
    (``settings.LANGUAGE_CODE`` for jobs stored before the language was recorded)."""
    language = (job.report or {}).get("language")
    return language if language in _LANGUAGES else settings.LANGUAGE_CODE


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
    # The worker has no request: the report is written in the language of whoever starts the run.
    job.report = {**(job.report or {}), "language": _active_language()}
    fields = ["action", "status", "rows_done", "report"]
    if is_large(job):
        with transaction.atomic():
            job.save(update_fields=fields)
            handoff.enqueue(TASK, job.pk)
        return job
    job.save(update_fields=fields)
    return run_job(job.pk)


def _active_language():
    """The active language as one of ``settings.LANGUAGES`` (``ja`` for ``ja-jp``)."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    for code in (language, language.split("-")[0]):
        if code in _LANGUAGES:
            return code
    return settings.LANGUAGE_CODE


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
        return _run(job)


def _run(job):
    language = language_of(job)
    with translation.override(language):
        report = _check_or_commit(job)
    report["language"] = language
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
    with handoff.finishing(TASK, job.pk):
        job.save(update_fields=["report", "rows_total", "rows_done", "finished_at", "status", "committed_at"])
    return job


def _check_or_commit(job):
    """The run's report (problems rendered in the active language)."""
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
    return report


def mark_lost(job_id, reason, *, retry):
    """The job's worker was lost (``registry.ops.handoff``): queue it again, or fail it with the reason."""
    if retry:
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.QUEUED, rows_done=0
        )
        return
    stored = ImportJob.objects.filter(pk=job_id).values_list("report", flat=True).first() or {}
    report = {
        "file_name": "",
        "committed": False,
        "rows": 0,
        "sheets": {},
        "problem_count": 1,
        "problems": [Problem("", None, "", reason, "file").as_dict()],
        "problems_truncated": False,
        # Kept so that checking the file again reads it, and reports, as before.
        **{key: stored[key] for key in ("encoding", "language") if key in stored},
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
