"""Electronic signatures as 21 CFR Part 11 expects (11.50, 11.70, 11.200).

A ``Signature`` records who signed what, when (UTC) and meaning what: an investigator signs a
patient's casebook, a data cut, or the outcome report at a data cut. It keeps the signer's
printed name as it was at signing (11.50) and the SHA-256 of the signed content
(``registry.signatures.content``), which binds it to exactly that content (11.70): a later
change marks it invalidated, with the reason and time, and a change the registry did not see
(below the ORM) shows when the hash is recomputed (``services.status``).

A signature is never deleted and never edited, only invalidated once: the model refuses it, and
on PostgreSQL a trigger refuses it whatever the path (migration 0002); its history is audited
(who, when, why, source) and append-only there too. Writes go through
``registry.signatures.services``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..access import center_scope
from ..audit import AuditFields, RecordedHistoricalRecords
from ..models import Center

NEVER_DELETED = _("An electronic signature is never deleted or changed; it can only be invalidated.")
INVALIDATION_FIELDS = frozenset({"invalidated_at", "invalidated_reason"})


class SignatureRefused(Exception):
    """A delete, or a change of anything but the invalidation, of a signature."""


class Kind(models.TextChoices):
    CASEBOOK = "casebook", _("casebook")
    DATA_CUT = "data_cut", _("data cut")
    REPORT = "report", _("outcome report at a data cut")


class Meaning(models.TextChoices):
    AUTHORED = "authored", _("authored")
    REVIEWED = "reviewed", _("reviewed")
    APPROVED = "approved", _("approved")


class SignatureQuerySet(models.QuerySet):
    def of(self, kind, object_id):
        """The signatures of one signed object, newest first."""
        return self.filter(kind=kind, object_id=object_id).order_by("-signed_at", "-pk")

    def valid(self):
        """Not invalidated (the content hash is checked by ``services.status``)."""
        return self.filter(invalidated_at__isnull=True)

    def for_user(self, user):
        """Casebook signatures of the centers ``user`` sees; signatures of cuts and reports span centers."""
        scope = center_scope(user)
        return self if scope is None else self.filter(Q(center__isnull=True) | Q(center_id__in=scope))

    def update(self, **kwargs):
        raise SignatureRefused(NEVER_DELETED)

    def delete(self):
        raise SignatureRefused(NEVER_DELETED)


class Signature(models.Model):
    kind = models.CharField(_("what is signed"), max_length=10, choices=Kind.choices)
    object_id = models.PositiveBigIntegerField(
        _("signed object"), help_text=_("The patient (casebook) or the data cut (data cut, report at a cut).")
    )
    label = models.CharField(
        _("signed item"), max_length=200, help_text=_("The study ID or the data cut's name at signing.")
    )
    center = models.ForeignKey(
        Center,
        verbose_name=_("center"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("A casebook's center at signing; empty for a data cut or a report."),
    )
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("signer"), on_delete=models.PROTECT, related_name="+"
    )
    printed_name = models.CharField(_("printed name"), max_length=300)
    meaning = models.CharField(_("meaning"), max_length=10, choices=Meaning.choices)
    signed_at = models.DateTimeField(_("signed at (UTC)"), default=timezone.now, db_index=True)
    content_hash = models.CharField(_("content SHA-256"), max_length=64)
    invalidated_at = models.DateTimeField(_("invalidated at (UTC)"), null=True, blank=True)
    invalidated_reason = models.TextField(_("why invalidated"), blank=True)

    objects = SignatureQuerySet.as_manager()
    history = RecordedHistoricalRecords(bases=[AuditFields])

    class Meta:
        verbose_name = _("electronic signature")
        verbose_name_plural = _("electronic signatures")
        ordering = ["-signed_at", "-pk"]
        indexes = [models.Index(fields=["kind", "object_id"], name="signatures_of_object")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=Kind.values),
                name="signatures_kind_known",
                violation_error_message=_("Unknown kind of signed object."),
            ),
            models.CheckConstraint(
                condition=Q(meaning__in=Meaning.values),
                name="signatures_meaning_known",
                violation_error_message=_("A signature means authored, reviewed or approved."),
            ),
            models.CheckConstraint(
                condition=(Q(invalidated_at__isnull=True) & Q(invalidated_reason=""))
                | (Q(invalidated_at__isnull=False) & ~Q(invalidated_reason="")),
                name="signatures_invalidated_with_reason",
                violation_error_message=_("An invalidated signature has its time and reason; a valid one has neither."),
            ),
            models.CheckConstraint(
                condition=~Q(printed_name="") & ~Q(content_hash=""),
                name="signatures_name_and_hash",
                violation_error_message=_("A signature carries the signer's printed name and the content hash."),
            ),
        ]

    def __str__(self):
        when = f"{self.signed_at:%Y-%m-%d %H:%M} UTC"
        return f"{self.get_kind_display()} {self.label}: {self.printed_name} ({self.meaning}, {when})"

    def save(self, *args, **kwargs):
        """Insert once; afterwards only the invalidation may be written (``update_fields``)."""
        if not self._state.adding:
            fields = set(kwargs.get("update_fields") or ())
            if not fields or not fields <= INVALIDATION_FIELDS:
                raise SignatureRefused(NEVER_DELETED)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise SignatureRefused(NEVER_DELETED)

    def audit_center_id(self):
        return self.center_id

    def audit_study_id(self):
        return self.label[:20] if self.kind == Kind.CASEBOOK else ""

    @property
    def invalidated(self):
        return self.invalidated_at is not None
