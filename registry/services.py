"""Every write to clinical data goes through here.

Each service checks the actor's right to write, validates the record with ``full_clean()``
(model rules, course chronology, database constraints), saves it in one transaction with the
patient's row locked, and records who, when and why in the audit trail. ``user=None`` stands
for the system itself (a management command or a Celery task) and must say its ``source``.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from . import access
from .audit import ReasonRequired, audit_context
from .models import DataRevision, Patient


class StaleVersion(ValidationError):
    """The record changed since the editor loaded it; their edit would overwrite someone else's."""

    def __init__(self, record, expected):
        super().__init__(
            f"{record._meta.verbose_name.capitalize()} was changed by someone else since you opened it "
            f"(version {expected}, now {record.version}). Reload it and apply your change again.",
            code="stale_version",
        )


def _check_can_enter(user, patient):
    if user is None:
        return  # the system: management commands and tasks, which name their source
    if not access.can_enter_data(user, patient):
        raise PermissionDenied("Only the study coordinator of this patient's center may change this record.")


def _lock_patient(patient):
    """Serialise writes to one patient's course so two chronology checks cannot race."""
    if patient.pk is not None:
        list(Patient.objects.select_for_update().filter(pk=patient.pk).values_list("pk"))


@transaction.atomic
def save_record(*, user, record, source, reason="", expected_version=None):
    """Create or update a clinical record (a ``Patient`` or one of its events).

    An update needs a ``reason``; ``expected_version`` (the version the editor loaded) refuses
    the edit with ``StaleVersion`` if someone saved the record in between.
    """
    patient = record if isinstance(record, Patient) else record.patient
    _check_can_enter(user, patient)  # a new patient too: its center must be the coordinator's
    if not isinstance(record, Patient) and patient.pk is None:
        raise ValidationError({"patient": "Save the patient before adding events."})
    _lock_patient(patient)
    reason = (reason or "").strip()
    if not record._state.adding:
        if not reason:
            raise ReasonRequired("change")
        stored = type(record)._base_manager.select_for_update().get(pk=record.pk)
        if expected_version is not None and int(expected_version) != stored.version:
            raise StaleVersion(stored, expected_version)
        if isinstance(record, Patient) and stored.center_id != record.center_id and user is not None:
            raise PermissionDenied("A patient cannot be moved to another center from a coordinator's account.")
    record.full_clean()
    record._change_reason = reason
    with audit_context(user=user, reason=reason, source=source):
        record.save()
    DataRevision.bump()
    return record


@transaction.atomic
def delete_record(*, user, record, reason, source):
    """Delete a clinical record: data managers only (or the system), always with a reason.

    The audit trail keeps the full record as it was. Coordinators never hard-delete; they
    correct the record, or ask the data manager.
    """
    if user is not None and not access.can_review(user):
        raise PermissionDenied("Only a data manager may delete a clinical record.")
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("deletion")
    patient = record if isinstance(record, Patient) else record.patient
    _lock_patient(patient)
    record._change_reason = reason
    with audit_context(user=user, reason=reason, source=source):
        record.delete()
    DataRevision.bump()


@transaction.atomic
def review_patient(*, user, patient, source, verify=None, lock=None, reason=""):
    """Data manager's review: mark the patient's data verified and/or lock or unlock it."""
    if user is not None and not access.can_review(user):
        raise PermissionDenied("Only a data manager may verify or lock records.")
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("change")
    _lock_patient(patient)
    if verify is not None:
        patient.verified_at = timezone.now() if verify else None
        patient.verified_by = user if verify else None
    if lock is not None:
        patient.locked = lock
    patient._change_reason = reason
    with audit_context(user=user, reason=reason, source=source):
        patient.save(update_fields=["verified_at", "verified_by", "locked", "version", "updated_at"])
    return patient
