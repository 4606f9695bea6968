"""Every read of clinical data goes through here, scoped by ``for_user``."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.db.models import Exists, OuterRef, Q, Subquery
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import access, course
from .choices import FirstLineOutcome, VitalStatus
from .models import CLINICAL_MODELS, FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant, Trial


class PatientStatus:
    """Where a patient stands in the course, for list filters."""

    CHOICES = [
        ("pending", gettext_lazy("No first-line response yet")),
        ("cr1", gettext_lazy("In first remission")),
        ("relapsed", gettext_lazy("Relapsed")),
        ("refractory", gettext_lazy("Induction failure")),
        ("dead", gettext_lazy("Dead")),
    ]


def patients_for(user, *, search="", trial=None, center=None, status=None):
    """Patients ``user`` may see, with course flags annotated, filtered as the list page asks."""
    qs = (
        Patient.objects.for_user(user)
        .select_related("center", "trial", "first_line_response")
        .annotate(
            has_relapse=Exists(Relapse.objects.filter(patient=OuterRef("pk"))),
            is_dead=Exists(FollowUp.objects.filter(patient=OuterRef("pk"), vital_status=VitalStatus.DEAD)),
            # Per listed patient (a page's 50), not an aggregate over every row the user may see.
            last_contact_date=Subquery(
                FollowUp.objects.filter(patient=OuterRef("pk")).order_by("-contact_date").values("contact_date")[:1]
            ),
        )
    )
    if search:
        qs = qs.filter(study_id__icontains=search.strip())
    if trial:
        qs = qs.filter(trial__code=trial)
    if center:
        qs = qs.filter(center__code=center)
    if status == "pending":
        qs = qs.filter(first_line_response__isnull=True)
    elif status == "cr1":
        qs = qs.filter(first_line_response__outcome=FirstLineOutcome.COMPLETE_REMISSION, has_relapse=False)
    elif status == "relapsed":
        qs = qs.filter(has_relapse=True)
    elif status == "refractory":
        qs = qs.filter(course.refractory_q())
    elif status == "dead":
        qs = qs.filter(is_dead=True)
    return qs.order_by("study_id")


def patient_for(user, pk):
    """The patient ``pk`` if ``user`` may see it; 404 otherwise (never 403, never the data)."""
    try:
        return Patient.objects.for_user(user).select_related("center", "trial").get(pk=pk)
    except (Patient.DoesNotExist, ValueError):
        raise Http404(_("No such patient.")) from None


def locked_refusal(patient):
    """Why a locked patient's records cannot be changed, and what to do, in one sentence:
    "MLL98-0090 was locked by datamanager on 2026-11-30 09:12 UTC; ask them to unlock it."

    Who and when come from the patient's audit trail: the history row where ``locked`` last
    turned true (written by the ORM on SQLite and by the capture trigger on PostgreSQL; the rows
    are the same). Pages, API and import all refuse with this (``access.require_entry``).
    """
    locking = None
    rows = patient.history.order_by("-history_date", "-history_id").values_list(
        "locked", "history_user__username", "history_date"
    )
    for locked, username, when in rows.iterator():
        if not locked:
            break
        locking = (username, when)
    if locking is None or not locking[0]:
        return str(access.LOCKED_REFUSED % {"study_id": patient.study_id})
    username, when = locking
    return str(
        access.LOCKED_BY
        % {"study_id": patient.study_id, "user": username, "when": when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    )


def has_first_line_response(patient):
    """Whether the patient's first-line response is recorded (there is at most one)."""
    return FirstLineResponse.objects.filter(patient=patient).exists()


def record_for(user, model, pk):
    """An event record (relapse, salvage line, ...) whose patient ``user`` may see; else 404."""
    try:
        return model.objects.for_user(user).select_related("patient", "patient__center").get(pk=pk)
    except (model.DoesNotExist, ValueError):
        raise Http404(_("No such record.")) from None


@dataclass
class TimelineEntry:
    day: date
    kind: str
    title: str
    detail: str
    record: object


def timeline(patient):
    """The patient's course in date order: diagnosis, remission, relapses, salvage, HSCT, follow-up."""
    entries = [
        TimelineEntry(patient.date_of_birth, "birth", _("Birth"), "", patient),
        TimelineEntry(
            patient.diagnosis_date,
            "diagnosis",
            _("Diagnosis"),
            _("%(age)s days old; WBC %(wbc)s x10^9/L; %(cns)s; MLL partner %(partner)s")
            % {
                "age": patient.age_at_diagnosis_days,
                "wbc": patient.wbc,
                "cns": patient.get_cns_status_display(),
                "partner": patient.get_mll_partner_display(),
            },
            patient,
        ),
    ]
    first_line = FirstLineResponse.objects.filter(patient=patient).first()
    if first_line:
        entries.append(
            TimelineEntry(first_line.assessment_date, "first_line", first_line.get_outcome_display(), "", first_line)
        )
    for number, relapse in enumerate(Relapse.objects.filter(patient=patient), start=1):
        entries.append(
            TimelineEntry(
                relapse.relapse_date,
                "relapse",
                _("Relapse %(number)d") % {"number": number},
                relapse.get_site_display(),
                relapse,
            )
        )
    for number, line in enumerate(SalvageLine.objects.filter(patient=patient), start=1):
        response = line.get_response_display()
        if line.response_date:
            response = _("%(response)s on %(date)s") % {"response": response, "date": line.response_date}
        entries.append(
            TimelineEntry(
                line.start_date,
                "salvage",
                _("Salvage line %(number)d: %(regimen)s") % {"number": number, "regimen": line.regimen},
                _("%(agents)s. Response: %(response)s") % {"agents": line.agents, "response": response},
                line,
            )
        )
    for transplant in Transplant.objects.filter(patient=patient):
        entries.append(
            TimelineEntry(
                transplant.transplant_date,
                "transplant",
                _("HSCT (%(type)s)") % {"type": transplant.get_transplant_type_display()},
                _("%(donor)s, %(source)s; %(conditioning)s, %(intensity)s; status %(status)s")
                % {
                    "donor": transplant.get_donor_display(),
                    "source": transplant.get_stem_cell_source_display(),
                    "conditioning": transplant.get_conditioning_display(),
                    "intensity": transplant.get_conditioning_intensity_display(),
                    "status": transplant.get_disease_status_display(),
                },
                transplant,
            )
        )
    for follow_up in FollowUp.objects.filter(patient=patient):
        if follow_up.second_malignancy_date:
            entries.append(
                TimelineEntry(
                    follow_up.second_malignancy_date, "second_malignancy", _("Second malignancy"), "", follow_up
                )
            )
        if follow_up.vital_status == VitalStatus.DEAD:
            title = _("Death (%(cause)s)") % {"cause": follow_up.get_cause_of_death_display()}
            reported = _("reported %(date)s") % {"date": follow_up.contact_date}
            entries.append(TimelineEntry(follow_up.death_date, "death", title, reported, follow_up))
        else:
            detail = _("lost to follow-up after this contact") if follow_up.lost_to_follow_up else ""
            entries.append(TimelineEntry(follow_up.contact_date, "follow_up", _("Follow-up: alive"), detail, follow_up))
    return sorted(entries, key=lambda e: (e.day, _KIND_ORDER.index(e.kind)))


_KIND_ORDER = [
    "birth",
    "diagnosis",
    "first_line",
    "relapse",
    "salvage",
    "transplant",
    "second_malignancy",
    "follow_up",
    "death",
]


@dataclass
class AuditRow:
    """One audited change, with the fields that changed as (field, old, new)."""

    when: datetime
    user: str
    action: str
    record_type: str
    record_id: int
    study_id: str
    center_id: int
    reason: str
    source: str
    changes: list


_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


_HIDDEN_FIELDS = ("id", "created_at", "updated_at", "version")


def _label(field, value, names):
    """A stored value as a reader knows it: a choice's label, a related record's name."""
    if value is None or value == "":
        return ""
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if field.is_relation:
        return names.get((field.related_model, value), str(value))
    return str(value)


def _changes(row, previous, names):
    result = []
    for f in row.instance_type._meta.fields:
        if f.name in _HIDDEN_FIELDS:
            continue
        new = getattr(row, f.attname, None)
        old = getattr(previous, f.attname, None) if previous is not None else None
        if row.history_type == "-":
            old, new = new, None
        if previous is None and row.history_type == "+" and new in (None, ""):
            continue
        if old != new and not {old, new} <= {None, ""}:  # a column added later is NULL in older rows
            result.append((f.verbose_name, _label(f, old, names), _label(f, new, names)))
    return result


def _related_names(rows):
    """Names of the records the history rows point to (centers, trials, patients, users), in few queries."""
    wanted = {}
    for row in rows:
        for f in row.instance_type._meta.fields:
            if f.is_relation and getattr(row, f.attname, None) is not None:
                wanted.setdefault(f.related_model, set()).add(getattr(row, f.attname))
    return {
        (model, obj.pk): str(obj) for model, pks in wanted.items() for obj in model._base_manager.filter(pk__in=pks)
    }


def audit_trail(
    *, user_id=None, center_id=None, study_id="", patient_id=None, record_type="", since=None, until=None, limit=None
):
    """Audited changes across every clinical table, newest first, with old and new values.

    Filters: the acting user, the center, the study ID, the record type (model name), and a
    date range (``since``/``until`` as dates, inclusive, UTC).
    """
    rows = []
    for model in CLINICAL_MODELS:
        if record_type and model._meta.model_name != record_type:
            continue
        qs = model.history.all().select_related("history_user")
        query = Q()
        if user_id:
            query &= Q(history_user_id=user_id)
        if center_id:
            query &= Q(audit_center_id=center_id)
        if study_id:
            # Study IDs are upper case (``Patient.study_id``'s validator): an exact match, which the index serves.
            query &= Q(audit_study_id=study_id.strip().upper())
        if patient_id:
            query &= Q(id=patient_id) if model is Patient else Q(patient_id=patient_id)
        if since:
            query &= Q(history_date__gte=datetime.combine(since, time.min, tzinfo=UTC))
        if until:
            query &= Q(history_date__lte=datetime.combine(until, time.max, tzinfo=UTC))
        qs = qs.filter(query).order_by("-history_date", "-history_id")
        if limit:
            qs = qs[:limit]
        rows.extend(qs)
    rows.sort(key=lambda r: (r.history_date, r.history_id), reverse=True)
    if limit:
        rows = rows[:limit]
    names = _related_names(rows)
    previous = _previous_rows(rows)
    return [_audit_row(row, names, previous.get((type(row), row.history_id))) for row in rows]


def _previous_rows(rows):
    """Each change's or deletion's previous history row of the same record, one query per record
    type (what simple-history's ``prev_record`` reads one row at a time)."""
    wanted = {}
    for row in rows:
        if row.history_type != "+":
            wanted.setdefault(type(row), []).append(row)
    found = {}
    for history_model, changes in wanted.items():
        by_record = {}
        ids = sorted({row.id for row in changes})
        for begin in range(0, len(ids), 5000):
            earlier = history_model._default_manager.filter(id__in=ids[begin : begin + 5000])
            for old in earlier.order_by("history_date", "history_id"):
                by_record.setdefault(old.id, []).append(old)
        for row in changes:
            before = [
                old
                for old in by_record.get(row.id, [])
                if (old.history_date, old.history_id) < (row.history_date, row.history_id)
            ]
            found[(history_model, row.history_id)] = before[-1] if before else None
    return found


def _audit_row(row, names, previous):
    return AuditRow(
        when=row.history_date,
        user=row.history_user.get_username() if row.history_user else "system",
        action=_ACTIONS.get(row.history_type, row.history_type),
        record_type=row.instance_type._meta.verbose_name,
        record_id=row.id,
        study_id=row.audit_study_id,
        center_id=row.audit_center_id,
        reason=row.history_change_reason or "",
        source=row.audit_source,
        changes=_changes(row, previous, names),
    )


def patient_history(patient):
    """Every audited change to the patient and their events, newest first."""
    return audit_trail(patient_id=patient.pk)


def next_study_ids():
    """{trial pk: the next free study ID of that trial} ("MLL98-0091"), suggested at registration.

    Study IDs are the trial code, a dash and four digits, unique across centers, so the highest
    one (they sort as text) gives the next. Only a suggestion: the coordinator may type another.
    """
    suggestions = {}
    for trial in Trial.objects.order_by("code"):
        prefix = f"{trial.code}-"
        ids = Patient.objects.filter(study_id__regex=rf"^{trial.code}-[0-9]{{4}}$").order_by("-study_id")
        last = ids.values_list("study_id", flat=True).first()
        number = int(last[len(prefix) :]) + 1 if last else 1
        suggestions[trial.pk] = f"{prefix}{number:04d}"
    return suggestions
