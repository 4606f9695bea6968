"""Every read of data queries and verification marks, scoped by ``for_user``.

The worklist, the dashboard, the data-quality report and SDV progress each cost a fixed number
of database queries, whatever the number of patients or queries (tests/queries/test_selectors.py).
"""

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import access
from ..models import Center, Patient
from .models import RECORD_MODELS, DataQuery, QueryMessage, SourceVerification, record_model, stored_value

OVERDUE_DAYS = 14
WORKLIST_SIZE = 50
Status = DataQuery.Status


def queries_for(user, *, status=None, center=None, patient=None, min_age_days=None, rule=None, record=None):
    """Queries ``user`` may see, filtered: ``status``, ``center`` (code), ``patient`` (study ID or
    primary key), ``min_age_days`` (open at least that long), ``rule`` (code, or "manual"),
    ``record`` ((record_type, record_id))."""
    qs = DataQuery.objects.for_user(user).select_related("patient", "patient__center", "raised_by")
    if status:
        qs = qs.filter(status=status)
    if center:
        qs = qs.filter(patient__center__code=center)
    if patient:
        qs = qs.filter(patient_id=patient) if str(patient).isdigit() else qs.filter(patient__study_id=patient)
    if min_age_days is not None:
        qs = qs.filter(created_at__lte=timezone.now() - timedelta(days=int(min_age_days)))
    if rule == "manual":
        qs = qs.filter(rule="")
    elif rule:
        qs = qs.filter(rule=rule)
    if record:
        qs = qs.filter(record_type=record[0], record_id=record[1])
    return qs.order_by("created_at", "pk")


def query_for(user, pk):
    """The query ``pk`` if ``user`` may see its patient; 404 otherwise."""
    try:
        return DataQuery.objects.for_user(user).select_related("patient", "patient__center", "raised_by").get(pk=pk)
    except (DataQuery.DoesNotExist, ValueError, TypeError):
        raise access.OutsideYourCenters() from None


def messages_of(query):
    return list(QueryMessage.objects.filter(query=query).select_related("author"))


def open_counts(patient):
    """Open queries of a patient's records: {(record_type, record_id): {field: count}} ('' = whole record)."""
    counts = {}
    rows = (
        DataQuery.objects.filter(patient=patient, status=Status.OPEN)
        .values_list("record_type", "record_id", "field")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for record_type, record_id, field, n in rows:
        counts.setdefault((record_type, record_id), {})[field] = n
    return counts


@dataclass
class WorkItem:
    query: DataQuery
    age_days: int


def worklist(user, *, limit=WORKLIST_SIZE):
    """A coordinator's open queries (their center's), oldest first, with their age in days, and
    how many there are: two database queries."""
    if not access.can_answer_queries(user):
        return [], 0
    qs = queries_for(user, status=Status.OPEN)
    now = timezone.now()
    items = [WorkItem(q, q.age_days(now)) for q in qs[:limit]]
    return items, qs.count()


@dataclass
class CenterRow:
    center: str
    open: int = 0
    answered: int = 0
    closed: int = 0
    overdue: int = 0
    median_age_days: float | None = None


class _MedianEpoch(Aggregate):
    """PostgreSQL's median of a timestamp column, as seconds since the epoch."""

    function = "percentile_cont"
    template = "percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM %(expressions)s))"
    output_field = FloatField()


def dashboard(user):
    """Open / answered / closed queries by center, the median age (days) of the open ones and how
    many are open for more than 14 days; a total row last. Two database queries (the median in
    SQL on PostgreSQL; elsewhere from the open queries' dates)."""
    now = timezone.now()
    overdue_since = now - timedelta(days=OVERDUE_DAYS)
    qs = DataQuery.objects.for_user(user)
    in_sql = connection.vendor == "postgresql"
    is_open = Q(status=Status.OPEN)
    aggregates = {
        "n_open": Count("pk", filter=is_open),
        "n_answered": Count("pk", filter=Q(status=Status.ANSWERED)),
        "n_closed": Count("pk", filter=Q(status=Status.CLOSED)),
        "n_overdue": Count("pk", filter=Q(status=Status.OPEN, created_at__lt=overdue_since)),
    }
    if in_sql:
        aggregates["median"] = _MedianEpoch("created_at", filter=is_open)

    def age(epoch):
        return None if epoch is None else round((now.timestamp() - epoch) / 86400, 1)

    rows = {}
    for values in qs.values("patient__center__code").annotate(**aggregates).order_by():
        code = values["patient__center__code"]
        rows[code] = CenterRow(
            code,
            values["n_open"],
            values["n_answered"],
            values["n_closed"],
            values["n_overdue"],
            age(values.get("median")),
        )
    if in_sql:
        every = age(qs.aggregate(median=_MedianEpoch("created_at", filter=is_open))["median"])
    else:
        ages = {}
        for code, created in qs.filter(is_open).values_list("patient__center__code", "created_at").order_by():
            ages.setdefault(code, []).append((now - created).total_seconds() / 86400)
        for code, values in ages.items():
            rows[code].median_age_days = round(statistics.median(values), 1)
        flat = [a for values in ages.values() for a in values]
        every = round(statistics.median(flat), 1) if flat else None
    result = [rows[code] for code in sorted(rows)]
    total = CenterRow(
        "all",
        sum(r.open for r in result),
        sum(r.answered for r in result),
        sum(r.closed for r in result),
        sum(r.overdue for r in result),
        every,
    )
    return result, total


def quality_report(user):
    """What each data-quality rule found, by center: {rule code: {center code: {status: n}}}. One query."""
    report = {}
    rows = (
        DataQuery.objects.for_user(user)
        .exclude(rule="")
        .values_list("rule", "patient__center__code", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for rule, center, status, n in rows:
        report.setdefault(rule, {}).setdefault(center, {})[status] = n
    return report


# --- Source data verification -------------------------------------------------------------------


@dataclass
class FieldVerification:
    """Where one field stands: verified (value unchanged), changed since verification, or unverified."""

    state: str  # "verified", "changed", "unverified"
    mark: SourceVerification | None = None
    changed_by: str = ""
    changed_at: datetime | None = None


def _change_after(model, mark, rows):
    """The first history row (of ``rows``, oldest first) after the mark whose value differs from it."""
    for row in rows:
        if row.version > mark.record_version and stored_value(model, row, mark.field) != mark.value:
            return row
    return None


def field_verification(record_type, record):
    """{field: FieldVerification} for every case-report field of ``record``: two database queries."""
    model = record_model(record_type)
    marks = {m.field: m for m in SourceVerification.objects.filter(record_type=record_type, record_id=record.pk)}
    changed = [m for m in marks.values() if stored_value(model, record, m.field) != m.value]
    rows = []
    if changed:
        rows = list(
            model.history.filter(id=record.pk).select_related("history_user").order_by("history_date", "history_id")
        )
    result = {}
    for field in model.entry_fields:
        mark = marks.get(field)
        if mark is None:
            result[field] = FieldVerification("unverified")
        elif mark in changed:
            row = _change_after(model, mark, rows)
            result[field] = FieldVerification(
                "changed",
                mark,
                changed_by=(row.history_user.get_username() if row and row.history_user else _("system"))
                if row
                else "",
                changed_at=row.history_date if row else None,
            )
        else:
            result[field] = FieldVerification("verified", mark)
    return result


@dataclass
class Changed:
    mark: SourceVerification
    current: str
    changed_by: str
    changed_at: datetime | None


def marks_with_current(marks):
    """Each mark with the field's current value: one query per record type."""
    by_type = {}
    for mark in marks:
        by_type.setdefault(mark.record_type, []).append(mark)
    out = []
    for record_type, group in by_type.items():
        model = record_model(record_type)
        ids = {m.record_id for m in group}
        records = {}
        for begin in range(0, len(ids), 5000):
            chunk = sorted(ids)[begin : begin + 5000]
            records.update({r.pk: r for r in model._base_manager.filter(pk__in=chunk)})
        for mark in group:
            record = records.get(mark.record_id)
            out.append((mark, stored_value(model, record, mark.field) if record else None))
    return out


def changed_since_verification(user, *, center=None, patient=None, limit=500):
    """Verified fields whose value changed since, with who changed them and when (newest marks first)."""
    marks = SourceVerification.objects.for_user(user).select_related("patient", "verified_by")
    if center:
        marks = marks.filter(patient__center__code=center)
    if patient:
        marks = marks.filter(patient=patient)
    changed = [(m, current) for m, current in marks_with_current(marks) if current != m.value]
    changed.sort(key=lambda pair: pair[0].verified_at, reverse=True)
    changed = changed[:limit]
    histories = {}
    for record_type in {m.record_type for m, _state in changed}:
        model = record_model(record_type)
        ids = [m.record_id for m, _state in changed if m.record_type == record_type]
        for row in (
            model.history.filter(id__in=ids).select_related("history_user").order_by("history_date", "history_id")
        ):
            histories.setdefault((record_type, row.id), []).append(row)
    result = []
    for mark, current in changed:
        row = _change_after(record_model(mark.record_type), mark, histories.get((mark.record_type, mark.record_id), []))
        who = (row.history_user.get_username() if row.history_user else _("system")) if row else ""
        result.append(Changed(mark, "" if current is None else current, who, row.history_date if row else None))
    return result


@dataclass
class Progress:
    key: str
    label: str
    fields: int = 0
    verified: int = 0

    @property
    def percent(self):
        return round(100 * self.verified / self.fields, 1) if self.fields else 0.0


def sdv_progress(user, *, by="center", center=None):
    """Percent of case-report fields verified (and unchanged since), by center or, with
    ``by="patient"``, by patient (of ``center``, a code, if given). One query per record type
    for the field counts, one for the marks and one per record type for the current values."""
    key = "patient__center__code" if by == "center" else "patient__study_id"
    patients = Patient.objects.for_user(user)
    if center:
        patients = patients.filter(center__code=center)
    rows = {}
    for model in RECORD_MODELS.values():
        if model is Patient:
            records, group = patients, key.removeprefix("patient__")
        else:
            records, group = model.objects.filter(patient__in=patients.values("pk")), key
        for label, n in records.values_list(group).annotate(n=Count("pk")).order_by():
            rows.setdefault(label, Progress(label, label)).fields += n * len(model.entry_fields)
    marks = SourceVerification.objects.filter(patient__in=patients.values("pk")).select_related("patient__center")
    for mark, current in marks_with_current(marks):
        if current == mark.value:
            label = mark.patient.center.code if by == "center" else mark.patient.study_id
            rows.setdefault(label, Progress(label, label)).verified += 1
    if by == "center":
        names = dict(Center.objects.filter(code__in=rows).values_list("code", "name"))
        for row in rows.values():
            row.label = f"{row.key} {names.get(row.key, '')}".strip()
    return [rows[k] for k in sorted(rows)]


# --- Histories ------------------------------------------------------------------------------------


@dataclass
class FieldChange:
    when: datetime
    user: str
    old: str
    new: str
    reason: str
    source: str


def field_history(record_type, record_id, field=""):
    """Every audited change of ``field`` of a record (every case-report field when empty), oldest first."""
    model = record_model(record_type)
    names = [field] if field else list(model.entry_fields)
    rows = model.history.filter(id=record_id).select_related("history_user").order_by("history_date", "history_id")
    changes, previous = [], None
    for row in rows:
        for name in names:
            old = stored_value(model, previous, name) if previous is not None else ""
            new = "" if row.history_type == "-" else stored_value(model, row, name)
            if old != new:
                label = f"{model._meta.get_field(name).verbose_name}: " if not field else ""
                changes.append(
                    FieldChange(
                        row.history_date,
                        row.history_user.get_username() if row.history_user else _("system"),
                        label + old,
                        label + new if new else new,
                        row.history_change_reason or "",
                        row.audit_source,
                    )
                )
        previous = row
    return changes


def query_history(query):
    """The query's audited states, oldest first: (when, who, status, reason, source)."""
    rows = DataQuery.history.filter(id=query.pk).select_related("history_user").order_by("history_date", "history_id")
    return [
        {
            "when": row.history_date,
            "user": row.history_user.get_username() if row.history_user else _("system"),
            "status": row.get_status_display(),
            "reason": row.history_change_reason or "",
            "source": row.audit_source,
        }
        for row in rows
    ]
