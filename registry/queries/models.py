"""Data queries on the fields of clinical records, and source data verification marks.

A ``DataQuery`` asks about one field of one clinical record (or the record as a whole, with an
empty ``field``); its conversation is its ``QueryMessage`` rows, each with author and UTC time.
A ``SourceVerification`` says a monitor checked one field against source, holding the value
and record version seen: the field stays verified while its current value equals that value.

All three are audited with the clinical data's mechanism (``registry.audit``: who, when, why,
source), and on PostgreSQL their history tables are append-only (migration 0002). Writes go
through ``registry.queries.services``; reads through ``registry.queries.selectors`` and
``for_user`` (the patient's center, as for clinical records).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..access import center_scope
from ..audit import AuditFields, RecordedHistoricalRecords
from ..models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant


class RecordType(models.TextChoices):
    PATIENT = "patient", _("Patient")
    FIRST_LINE_RESPONSE = "first_line_response", _("First-line response")
    RELAPSE = "relapse", _("Relapse")
    SALVAGE_LINE = "salvage_line", _("Salvage line")
    TRANSPLANT = "transplant", _("HSCT")
    FOLLOW_UP = "follow_up", _("Follow-up")


RECORD_MODELS = {
    RecordType.PATIENT: Patient,
    RecordType.FIRST_LINE_RESPONSE: FirstLineResponse,
    RecordType.RELAPSE: Relapse,
    RecordType.SALVAGE_LINE: SalvageLine,
    RecordType.TRANSPLANT: Transplant,
    RecordType.FOLLOW_UP: FollowUp,
}
RECORD_TYPE_OF_MODEL = {model: record_type for record_type, model in RECORD_MODELS.items()}


def record_model(record_type):
    """The clinical model of ``record_type``; ``ValidationError`` for an unknown type."""
    try:
        return RECORD_MODELS[record_type]
    except KeyError:
        choices = ", ".join(RECORD_MODELS)
        raise ValidationError(
            {
                "record_type": _("Unknown record type %(type)s; use one of %(choices)s.")
                % {"type": record_type, "choices": choices}
            }
        ) from None


def check_field(record_type, field):
    """``field`` must be one of the record type's case-report fields (``entry_fields``), or empty."""
    model = record_model(record_type)
    if field and field not in model.entry_fields:
        raise ValidationError(
            {
                "field": _("%(field)s is not a field of a %(type)s; use one of %(fields)s.")
                % {"field": field, "type": record_type, "fields": ", ".join(model.entry_fields)}
            }
        )


def field_label(record_type, field):
    if not field:
        return str(_("whole record"))
    return str(record_model(record_type)._meta.get_field(field).verbose_name)


class ScopedQuerySet(models.QuerySet):
    def for_user(self, user):
        """Rows of the patients ``user`` may see (``registry.access.center_scope``), as for clinical records."""
        scope = center_scope(user)
        return self if scope is None else self.filter(patient__center_id__in=scope)


class OnPatientRecord(models.Model):
    """Points at a clinical record (``record_type`` + ``record_id``) of ``patient``."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    record_id = models.PositiveBigIntegerField()
    field = models.CharField(max_length=40, blank=True)

    objects = ScopedQuerySet.as_manager()
    audit_patient_path = "patient__"

    class Meta:
        abstract = True

    def audit_center_id(self):
        return self.patient.center_id

    def audit_study_id(self):
        return self.patient.study_id

    @property
    def field_label(self):
        return field_label(self.record_type, self.field)

    def record(self):
        return record_model(self.record_type)._base_manager.filter(pk=self.record_id).first()


class DataQuery(OnPatientRecord):
    """A question on one field of a clinical record (``field`` empty: the record as a whole)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    rule = models.CharField(
        max_length=40, blank=True, db_index=True, help_text=_("The data-quality rule that raised it.")
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by_rule = models.BooleanField(
        default=False, help_text=_("Closed by its rule once the data no longer trigger it.")
    )

    history = RecordedHistoricalRecords(bases=[AuditFields])

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("data query")
        verbose_name_plural = _("data queries")
        indexes = [models.Index(fields=["record_type", "record_id"]), models.Index(fields=["status", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "record_type", "record_id", "field"],
                condition=~Q(rule=""),
                name="query_one_per_rule_record_and_field",
                violation_error_message=_("This rule already has a query on this field."),
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "answered", "closed"]),
                name="query_status_known",
                violation_error_message=_("Unknown query status."),
            ),
        ]

    def __str__(self):
        return f"Q{self.pk} {self.get_record_type_display()} {self.record_id} {self.field or '-'} ({self.status})"

    def clean(self):
        check_field(self.record_type, self.field)

    def age_days(self, now=None):
        return ((now or timezone.now()) - self.created_at).days


class QueryMessage(models.Model):
    """One step of a query's conversation: who said what, when (UTC)."""

    class Action(models.TextChoices):
        RAISE = "raise", _("Raised")
        ANSWER = "answer", _("Answered")
        CLOSE = "close", _("Closed")
        REOPEN = "reopen", _("Reopened")

    query = models.ForeignKey(DataQuery, on_delete=models.CASCADE, related_name="messages")
    action = models.CharField(max_length=10, choices=Action.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    history = RecordedHistoricalRecords(bases=[AuditFields])
    audit_patient_path = "query__patient__"

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.get_action_display()} by {self.author or 'rule'} at {self.created_at:%Y-%m-%d %H:%M}"

    def audit_center_id(self):
        return self.query.patient.center_id

    def audit_study_id(self):
        return self.query.patient.study_id


class SourceVerification(OnPatientRecord):
    """A field checked against source: the value and record version seen, by whom and when."""

    value = models.TextField(blank=True)
    record_version = models.PositiveIntegerField()
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(default=timezone.now)

    history = RecordedHistoricalRecords(bases=[AuditFields])

    class Meta:
        ordering = ["record_type", "record_id", "field"]
        constraints = [
            models.UniqueConstraint(
                fields=["record_type", "record_id", "field"],
                name="verification_one_per_field",
                violation_error_message=_("This field already has a verification mark."),
            ),
            models.CheckConstraint(
                condition=~Q(field=""), name="verification_names_a_field", violation_error_message=_("Name a field.")
            ),
        ]

    def __str__(self):
        return f"{self.record_type} {self.record_id} {self.field} verified at {self.verified_at:%Y-%m-%d}"


def stored_value(model, obj, field):
    """A field of ``model`` as text, read from ``obj`` (the record, or one of its history rows):
    a related record by its key. Verification compares these."""
    value = getattr(obj, model._meta.get_field(field).attname)
    return "" if value is None else str(value)
