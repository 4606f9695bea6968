"""The registry's records of files in and out: import jobs and the export log.

Models of the ``registry`` app (imported by ``registry.models``), kept beside the import and
export code that writes them.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportJob(models.Model):
    """One uploaded file on its way in: checked (dry run), then committed all or nothing.

    The file is kept here between the dry run and the commit (and for a large file, while a
    Celery task works through it); ``report`` holds the problems by sheet, row and column and
    the counts of records to create, update or leave unchanged.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Checking or importing")
        CHECKED = "checked", _("Checked, ready to commit")
        REJECTED = "rejected", _("Problems found, nothing written")
        COMMITTED = "committed", _("Committed")
        FAILED = "failed", _("Failed")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(max_length=200)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    entity = models.CharField(max_length=30, blank=True, help_text=_("For a CSV file: which sheet it holds."))
    reason = models.CharField(
        max_length=255, blank=True, help_text=_("Reason for change, for rows that update records.")
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    action = models.CharField(max_length=10, default="check", help_text=_("check (dry run) or commit."))
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"import {self.file_name} ({self.status})"


class ExportLog(models.Model):
    """Who downloaded which export, when, of how many patients (append-only by convention)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=30)
    file_format = models.CharField(max_length=10)
    file_name = models.CharField(max_length=200)
    n_patients = models.PositiveIntegerField(null=True)
    sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=20, help_text=_("page or api"))

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.kind}.{self.file_format} by {self.user} at {self.created_at:%Y-%m-%d %H:%M}"
