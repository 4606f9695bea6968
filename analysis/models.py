"""Stored analysis runs: every result a report shows comes from one of these."""

import json

import orjson
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry import access
from registry.models import Center


def _dump_bytes(value, option=0):
    # orjson writes the same JSON as json.dumps (floats in their shortest round-trip form), ten times
    # faster; keys that are not text are written as text, as json.dumps does. As UTF-8 bytes: what
    # psycopg sends, without a detour through a str.
    return orjson.dumps(value, option=option | orjson.OPT_NON_STR_KEYS)


def _dumps(value, option=0):
    return _dump_bytes(value, option).decode()


class _Encoder(json.JSONEncoder):
    """json.dumps(value, cls=_Encoder) by orjson (the admin's form sorts keys and indents)."""

    def encode(self, value):
        option = (orjson.OPT_SORT_KEYS if self.sort_keys else 0) | (orjson.OPT_INDENT_2 if self.indent else 0)
        return _dumps(value, option)


class DocumentField(models.JSONField):
    """A JSON document stored as written: a run's results and figures (a few MB at 100,000 patients).

    On PostgreSQL the column is ``json``, not ``jsonb``: the text is checked on write and kept as it
    is, with its keys in the order the analysis wrote them, where ``jsonb`` parses it into its binary
    form (more than half the time a run spends storing itself) for operators the registry never uses
    on these columns; ``->`` (a figure by name) works on both. Written and read with orjson.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("encoder", _Encoder)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("encoder", None)
        return name, path, args, kwargs

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor != "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        if not prepared:
            value = self.get_prep_value(value)
        from psycopg.types.json import Json

        return Json(value, dumps=_dump_bytes)

    def from_db_value(self, value, expression, connection):
        if not isinstance(value, str | bytes):  # SQLite extracts a key's number as a number
            return value
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:  # SQLite extracts a key's text as the text
            return value


class AnalysisRunQuerySet(models.QuerySet):
    def for_user(self, user):
        """The runs ``user`` may read (the rules: ``registry.access``); none for outsiders.

        Readers of outcome results who see every center read every run. A center-scoped
        investigator reads only runs whose ``parameters`` name one of their centers (by code):
        never a study-wide run (``{}``), which pools every center's patients, nor another
        center's. Coordinators and users without a role read none.
        """
        if not access.can_view_reports(user):
            return self.none()
        scope = access.center_scope(user)
        if scope is None:
            return self
        codes = list(Center.objects.filter(pk__in=scope).values_list("code", flat=True))
        return self.filter(parameters__center__in=codes) if codes else self.none()


class AnalysisRun(models.Model):
    """One execution of one analysis on one snapshot of the registry.

    ``fingerprint`` is the SHA-256 of the exact analysis data set the run read and
    ``code_version`` the version of the statistics code; together they identify the result, and
    a request whose fingerprint and code match a stored successful run reuses it. A run at a
    ``data_cut`` reads the cut's copy of the data, never the live tables.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        ON_DEMAND = "on_demand", _("On demand")
        DATA_CHANGE = "data_change", _("Data changed")
        COMMAND = "command", _("Management command")

    name = models.CharField(max_length=60, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    parameters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    data_revision = models.PositiveBigIntegerField(null=True, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    code_version = models.CharField(max_length=64, blank=True)
    n_patients = models.PositiveIntegerField(null=True, blank=True)
    results = DocumentField(null=True, blank=True)
    figures = DocumentField(default=dict, blank=True, help_text="Figure name -> SVG text.")
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    reused_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    data_cut = models.ForeignKey(
        "cuts.DataCut",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="runs",
        help_text="The data cut the run read; empty: the live data.",
    )

    objects = AnalysisRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(status="running"),
                name="analysis_one_running_run_per_name",
                violation_error_message="This analysis is already running.",
            )
        ]

    def __str__(self):
        at = f" at {self.data_cut}" if self.data_cut_id else ""
        return f"{self.name} #{self.pk}{at} ({self.status})"
