"""Every write to clinical data goes through here.

Each service checks the actor's right to write, validates the record with ``full_clean()``
(model rules, course chronology, database constraints), saves it in one transaction with the
patient's row locked, and records who, when and why in the audit trail. A record held by a data
cut in force (``registry.cuts``) is refused on every path, with a message naming the cut. ``user=None`` stands
for the system itself (a management command or a Celery task) and must say its ``source``.

Bulk imports write many courses at once through :func:`save_courses`: the same rules (field
validators, each record's ``validate_record()``, every chronology rule on the whole course held
in memory, the same permission and reason checks), without a query per record, then written
with PostgreSQL ``COPY`` (``registry.bulk_copy``; audited ``bulk_create``/``bulk_update`` on
SQLite), the trail's triggers recording every row. The database constraints back both paths.

The audit trail (``registry.audit``) also moves the data revision ("analysis data changed")
for every write it records, once per service call; the services do not bump it themselves.
"""

import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from . import access, bulk_copy, chronology
from .audit import ReasonRequired, audit_context
from .cuts.services import FrozenByCut, frozen_trial_ids, refuse_if_frozen
from .models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant
from .signatures.services import invalidate_for_patient, invalidate_for_patients

EVENT_MODELS = (FirstLineResponse, Relapse, SalvageLine, Transplant, FollowUp)
BATCH = 2000


class StaleVersion(ValidationError):
    """The record changed since the editor loaded it; their edit would overwrite someone else's."""

    def __init__(self, record, expected):
        super().__init__(
            _(
                "%(record)s was changed by someone else since you opened it (version %(expected)s, now %(now)s). "
                "Reload it and apply your change again."
            )
            % {"record": capfirst(record._meta.verbose_name), "expected": expected, "now": record.version},
            code="stale_version",
        )


def _check_can_enter(user, patient):
    if user is None:
        return  # the system: management commands and tasks, which name their source
    access.require_entry(user, patient)  # a locked patient's refusal names who locked it and when


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
        raise ValidationError({"patient": _("Save the patient before adding events.")})
    _lock_patient(patient)
    refuse_if_frozen(patient)
    reason = (reason or "").strip()
    if not record._state.adding:
        if not reason:
            raise ReasonRequired("change")
        stored = type(record)._base_manager.select_for_update().get(pk=record.pk)
        if expected_version is not None and int(expected_version) != stored.version:
            raise StaleVersion(stored, expected_version)
        if isinstance(record, Patient) and stored.center_id != record.center_id and user is not None:
            raise PermissionDenied(_("A patient cannot be moved to another center from a coordinator's account."))
    record.full_clean()
    record._change_reason = reason
    with audit_context(user=user, reason=reason, source=source):
        record.save()  # the audit trail records it and moves the data revision
    invalidate_for_patient(patient, reason, user=user, source=source, record=record)
    return record


@transaction.atomic
def delete_record(*, user, record, reason, source):
    """Delete a clinical record: data managers only (or the system), always with a reason.

    The audit trail keeps the full record as it was. Coordinators never hard-delete; they
    correct the record, or ask the data manager.
    """
    if user is not None and not access.can_review(user):
        raise PermissionDenied(_("Only a data manager may delete a clinical record."))
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("deletion")
    patient = record if isinstance(record, Patient) else record.patient
    _lock_patient(patient)
    refuse_if_frozen(patient)
    record._change_reason = reason
    invalidate_for_patient(patient, reason, user=user, source=source, record=record, action="deleted")
    with audit_context(user=user, reason=reason, source=source):
        record.delete()


@transaction.atomic
def review_patient(*, user, patient, source, verify=None, lock=None, reason=""):
    """Data manager's review: mark the patient's data verified and/or lock or unlock it."""
    if user is not None and not access.can_review(user):
        raise PermissionDenied(_("Only a data manager may verify or lock records."))
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("change")
    _lock_patient(patient)
    refuse_if_frozen(patient)
    if verify is not None:
        patient.verified_at = timezone.now() if verify else None
        patient.verified_by = user if verify else None
    if lock is not None:
        patient.locked = lock
    patient._change_reason = reason
    with audit_context(user=user, reason=reason, source=source):
        patient.save(update_fields=["verified_at", "verified_by", "locked", "version", "updated_at"])
    invalidate_for_patient(patient, reason, user=user, source=source, action="reviewed")
    return patient


# --- Bulk writes ------------------------------------------------------------------------------


@dataclass
class CourseWrite:
    """One patient's whole course as it should be after a bulk write.

    ``course`` holds every record of the patient: the stored ones (changed in place where the
    write changes them) and the new ones (not saved yet). ``changed`` lists the records to
    insert or update; only they are validated and reported on.
    """

    course: chronology.Course
    changed: list = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    """A rule a record of a bulk write breaks: ``kind`` is permission, rule or chronology."""

    record: object
    field: str
    message: str
    kind: str


class CoursesInvalid(ValidationError):
    """A bulk write was refused; ``problems`` lists every broken rule and nothing was written."""

    def __init__(self, problems):
        super().__init__(_("%(n)d problem(s); nothing was written.") % {"n": len(problems)}, code="courses_invalid")
        self.problems = problems


def load_courses(patient_ids, *, lock=False):
    """The stored courses of ``patient_ids`` by patient primary key, in one query per table and
    5,000 patients. With ``lock=True`` (inside a transaction) the patients' rows are locked
    first, as :func:`save_record` locks one, so nobody changes these courses until it commits."""
    ids = sorted(set(patient_ids))
    patients = {}
    records = {pk: [] for pk in ids}
    for begin in range(0, len(ids), 5000):
        chunk = ids[begin : begin + 5000]
        query = Patient.objects.filter(pk__in=chunk).select_related("center", "trial").order_by("pk")
        if lock:
            query = query.select_for_update(of=("self",))
        for patient in query:
            patient._loaded_center_id = patient.center_id
            patients[patient.pk] = patient
        for model in EVENT_MODELS:
            for record in model._base_manager.filter(patient_id__in=chunk).order_by():
                record.patient = patients[record.patient_id]
                records[record.patient_id].append(record)
    return {pk: chronology.course_of(patients[pk], records[pk]) for pk in ids if pk in patients}


def check_courses(*, user, writes, reason=""):
    """Every problem with ``writes`` (a list of :class:`CourseWrite`), without writing anything."""
    reason = (reason or "").strip()
    frozen = frozen_trial_ids()
    doubtful = _field_doubts(writes)
    problems = []
    for write in writes:
        problems += _course_problems(user, write, reason, frozen, doubtful)
    return problems


def _course_problems(user, write, reason, frozen, doubtful):
    course, changed = write.course, write.changed
    if not changed:
        return []
    patient = course.patient
    changed_ids = {id(record) for record in changed}
    problems = []
    if patient.trial_id in frozen:
        error = FrozenByCut(frozen[patient.trial_id])
        return [Problem(record, "", str(error), "permission") for record in changed]
    try:
        _check_can_enter(user, patient)
        if patient.pk is not None and user is not None and id(patient) in changed_ids:
            if patient.center_id != getattr(patient, "_loaded_center_id", patient.center_id):
                raise PermissionDenied(_("A patient cannot be moved to another center from a coordinator's account."))
    except PermissionDenied as error:
        return [Problem(record, "", str(error), "permission") for record in changed]
    for record in changed:
        if record.pk is not None and not reason:
            problems.append(Problem(record, "reason", ReasonRequired("change").messages[0], "rule"))
        steps = [record.validate_record]
        if id(record) in doubtful:
            excluded = _PATIENT_REFERENCES if record is patient else _EVENT_REFERENCES
            steps.insert(0, functools.partial(record.clean_fields, exclude=excluded))
        for step in steps:
            try:
                step()
            except ValidationError as error:
                problems += [
                    Problem(record, name, message, "rule")
                    for name, messages in error.message_dict.items()
                    for message in messages
                ]
    found, reported = [], set()
    for record, name, message in chronology.violations(course):
        if id(record) in changed_ids and (id(record), name) not in reported:
            reported.add((id(record), name))
            found.append(Problem(record, name, message, "chronology"))
    # A rule broken between a new or changed patient row and its events is reported on the events
    # (as if the patient had been saved first), not twice.
    if any(p.record is not patient for p in found):
        found = [p for p in found if p.record is not patient]
    return problems + found


_PATIENT_REFERENCES = frozenset({"center", "trial", "verified_by"})
_EVENT_REFERENCES = frozenset({"patient"})


def _field_doubts(writes):
    """Ids of the changed records whose fields need Django's ``clean_fields`` (which gives the messages).

    ``clean_fields`` runs every field's validators, choices and blank/null rules; it is
    ``to_python`` + ``validate`` + ``run_validators`` per field, and for a value of the field's
    own Python type ``to_python`` changes nothing, so the checks below are the same (every
    validator runs). Those checks depend on the value alone, so each distinct value of a field is
    checked once for all the records of a bulk write (a field holds a few codes, some thousand
    dates or numbers, however many records). A record with a value that fails them, or of
    another type, or any doubt, is doubtful: ``_course_problems`` hands it to ``clean_fields``.
    """
    by_model = {}
    for write in writes:
        patient = write.course.patient
        for record in write.changed:
            excluded = _PATIENT_REFERENCES if record is patient else _EVENT_REFERENCES
            by_model.setdefault((type(record), excluded), []).append(record)
    doubtful = set()
    for (model, excluded), records in by_model.items():
        plan = _field_plan(model, excluded)
        # One pass over the records for all their fields, then field by field.
        read = attrgetter(*(model_field.attname for model_field, *_checks in plan))
        rows = map(read, records) if len(plan) > 1 else ((read(record),) for record in records)
        for (model_field, kind, choices, validators), values in zip(plan, zip(*rows, strict=True), strict=True):
            keys = _distinct_keys(values, decimal=kind is Decimal)
            failed = {
                key
                for key, value in dict(zip(keys, values, strict=True)).items()
                if not _field_passes(model_field, kind, choices, validators, value)
            }
            if failed:
                doubtful.update(id(record) for record, key in zip(records, keys, strict=True) if key in failed)
    return doubtful


def _distinct_keys(values, *, decimal):
    """Keys that tell ``values`` apart wherever a field's checks could: by type (True equals 1)
    and decimals by their digits (1.0 equals 1.00 but has another number of decimal places)."""
    shown = map(str, values) if decimal else values
    if len(set(map(type, values))) == 1:
        return values if not decimal else tuple(shown)
    return tuple(zip(map(type, values), shown, strict=True))


def _field_passes(model_field, kind, choices, validators, value):
    """Whether ``clean_fields`` would pass ``value`` for ``model_field`` without changing it."""
    if value is None or value == "":
        return model_field.blank  # as Django: a blank field left empty is not validated
    if kind is None or type(value) is not kind or (kind is Decimal and not value.is_finite()):
        return False  # no fast check for this field or value (a relation, another type): Django's own
    if choices is not None and value not in choices:
        return False
    try:
        for validator in validators:
            validator(value)
    except ValidationError:
        return False
    return True


_FAST_TYPES = {
    "CharField": str,
    "DateField": date,
    "DateTimeField": datetime,
    "DecimalField": Decimal,
    "BooleanField": bool,
    "IntegerField": int,
    "PositiveIntegerField": int,
    "PositiveSmallIntegerField": int,
    "BigIntegerField": int,
    "BigAutoField": int,
}


@functools.cache
def _field_plan(model, exclude):
    plan = []
    for model_field in model._meta.fields:
        if model_field.name in exclude or model_field.generated:
            continue
        internal = model_field.get_internal_type()
        kind = _FAST_TYPES.get(internal)
        if kind is not None and type(model_field).to_python is not _BASE_TO_PYTHON[internal]:
            kind = None  # a field class with its own conversion
        choices = None
        if model_field.editable and model_field.choices is not None:
            if any(isinstance(label, (list, tuple)) for _, label in model_field.choices):
                kind = None  # grouped choices: Django's own walk
            else:
                choices = frozenset(key for key, _ in model_field.choices)
        plan.append((model_field, kind, choices, tuple(model_field.validators)))
    return tuple(plan)


_BASE_TO_PYTHON = {name: getattr(models, name).to_python for name in _FAST_TYPES}


@transaction.atomic
def save_courses(*, user, writes, source, reason=""):
    """Validate and write many courses at once, all or nothing.

    ``writes`` are :class:`CourseWrite` built on courses from ``load_courses(..., lock=True)``
    in the same transaction. Raises :class:`CoursesInvalid` with every problem and writes
    nothing if any rule is broken; otherwise inserts and updates them, with one history row per
    record (updates with ``reason``), and returns the number of records written. On PostgreSQL
    the rows go in by ``COPY`` (``registry.bulk_copy``), elsewhere by the audited ``bulk_create``
    and ``bulk_update``.
    """
    reason = (reason or "").strip()
    problems = check_courses(user=user, writes=writes, reason=reason)
    if problems:
        raise CoursesInvalid(problems)
    changed = [record for write in writes for record in write.changed]
    if not changed:
        return 0
    now = timezone.now()
    by_model = {model: ([], []) for model in (Patient, *EVENT_MODELS)}
    for record in changed:
        by_model[type(record)][record.pk is not None].append(record)
    copy = bulk_copy.supported()
    with audit_context(user=user, source=source):
        for model, (new, stored) in by_model.items():
            if new:
                if model is not Patient:
                    # Saved just above: its key now, the patient still cached (the key's own descriptor would
                    # drop the cache; assigning the patient again checks it once per record).
                    for record in new:
                        record.__dict__["patient_id"] = record.patient.pk
                if copy:
                    bulk_copy.insert(model, new, now=now)
                else:
                    model.objects.bulk_create(new, batch_size=BATCH)
            if stored:
                with audit_context(reason=reason):
                    if copy:
                        bulk_copy.update(model, stored, _updatable_fields(model), now=now)
                        continue
                    for record in stored:
                        record.updated_at = now  # bulk_update does not apply auto_now
                    model.objects.bulk_update(stored, _updatable_fields(model), batch_size=BATCH)
    invalidate_for_patients([w.course.patient.pk for w in writes if w.changed], reason, user=user, source=source)
    return len(changed)


def _updatable_fields(model):
    skip = {"id", "created_at", "version", "patient"}
    return [f.name for f in model._meta.concrete_fields if f.name not in skip]
