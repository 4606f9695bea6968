"""Data cuts: a named, frozen state of the study's (or one trial's) data.

Creating a cut freezes every clinical record in its scope: ``registry.services`` refuses every
write to them (pages, API, import, admin, commands) with a message naming the cut, until a data
manager releases it with a reason. The cut keeps a snapshot of the registry rows in its scope
(``snapshot``, the rows ``registry.course`` derives every course fact from, as gzipped JSON) and
its SHA-256 (``fingerprint``), so the analyses can be re-run on that state forever, whatever
happens to the live data later (``analysis.runs``).

Cuts are audited (who, when, why) with the clinical data's mechanism; their history is
append-only on PostgreSQL. Services: ``registry.cuts.services``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..audit import AuditFields, RecordedHistoricalRecords
from ..models import Trial


class DataCutQuerySet(models.QuerySet):
    def frozen(self):
        """Cuts in force: not released."""
        return self.filter(released_at__isnull=True)

    def covering(self, trial_id):
        """Cuts whose scope holds the patients of ``trial_id`` (study-wide cuts hold every trial)."""
        return self.filter(Q(trial__isnull=True) | Q(trial_id=trial_id))


class DataCut(models.Model):
    name = models.CharField(
        _("name"), max_length=120, unique=True, help_text=_('For example "MLL98 final analysis 2026-12-01".')
    )
    trial = models.ForeignKey(
        Trial,
        verbose_name=_("trial"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty: the whole study."),
    )
    reason = models.TextField(_("purpose"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    data_revision = models.PositiveBigIntegerField(_("data revision"), default=0)
    n_patients = models.PositiveIntegerField(_("patients"), default=0)
    snapshot = models.BinaryField(editable=False)
    fingerprint = models.CharField(_("fingerprint"), max_length=64, editable=False)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    release_reason = models.TextField(_("reason for release"), blank=True)

    objects = DataCutQuerySet.as_manager()
    history = RecordedHistoricalRecords(bases=[AuditFields], excluded_fields=["snapshot"])

    class Meta:
        verbose_name = _("data cut")
        verbose_name_plural = _("data cuts")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | ~Q(release_reason=""),
                name="cuts_release_has_reason",
                violation_error_message=_("A data cut is released with a reason."),
            ),
            models.CheckConstraint(
                condition=~Q(name=""), name="cuts_name_not_empty", violation_error_message=_("Name the data cut.")
            ),
        ]

    def __str__(self):
        return self.name

    def audit_center_id(self):
        return None  # a cut spans centers

    def audit_study_id(self):
        return ""

    @property
    def frozen(self):
        return self.released_at is None

    @property
    def scope_label(self):
        return self.trial.code if self.trial_id else str(_("whole study"))
