"""The audit review: the changes a monitor should look at twice, read from the audit trail.

For admins and data managers (monitors), from the clinical history tables, the verification
marks and the data cuts: mass edits (one user changing more than N records within one clock
hour), edits after a patient's verification, changes after a field's source verification, edits
shortly before a data cut and changes after one, and the releases of cuts. What each kind counts,
and why, is in docs/audit-trail.md ("Audit review").

Pure reads returning plain dicts (one per finding: the page's and the CSV's row), newest first.
The history tables are read with set-based queries (a few per kind, none per history row), so the
review stays quick on 100,000 patients; each kind is cut at ``limit`` rows (``Review.truncated``).
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Exists, F, Func, OuterRef, Q, Subquery, TextChoices, TextField, Value
from django.db.models.functions import Cast, Coalesce, TruncHour
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .access import center_scope
from .cuts.models import DataCut
from .models import CLINICAL_MODELS, Center, Patient
from .queries.models import RECORD_MODELS, SourceVerification, field_label

MASS_EDIT_RECORDS = 20  # default N: more than this many records changed by one user in one hour
CUT_WINDOW_DAYS = 7  # default window before a cut's creation
LIMIT = 1000  # rows per kind on the page

EDITS = ("~", "-")  # changes and deletions; creations are data entry
ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
CHUNK = 5000


class Kind(TextChoices):
    MASS_EDIT = "mass_edit", gettext_lazy("Mass edit")
    AFTER_VERIFICATION = "after_verification", gettext_lazy("Edit after verification")
    AFTER_SOURCE_VERIFICATION = "after_sdv", gettext_lazy("Change after source verification")
    BEFORE_CUT = "before_cut", gettext_lazy("Edit shortly before a data cut")
    AFTER_CUT = "after_cut", gettext_lazy("Change after a data cut")
    CUT_RELEASE = "cut_release", gettext_lazy("Data cut released")


@dataclass(frozen=True)
class Filters:
    """What the reviewer asks for. Dates are inclusive, UTC; ``threshold`` is N; ``window_days``
    the days before a cut's creation that count as "shortly before"."""

    kind: str = ""
    user_id: int | None = None
    center_id: int | None = None
    since: date | None = None
    until: date | None = None
    threshold: int = MASS_EDIT_RECORDS
    window_days: int = CUT_WINDOW_DAYS


@dataclass
class Review:
    rows: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)  # {kind: rows found, up to limit}
    truncated: list = field(default_factory=list)  # kinds with more than ``limit`` rows


def review(user, filters=None, *, limit=LIMIT):
    """The findings ``user`` may see (their centers; admins and data managers see all), newest first."""
    filters = filters or Filters()
    centers = _centers(user, filters)
    kinds = [filters.kind] if filters.kind else list(Kind.values)
    result = Review()
    readers = (mass_edits, edits_after_verification, changes_after_source_verification)
    readers = dict(zip(Kind.values, (*readers, edits_before_cuts, changes_after_cuts, cut_releases), strict=True))
    with _without_jit():
        for kind in kinds:
            rows = readers[kind](filters, centers, limit + 1)
            if len(rows) > limit:
                result.truncated.append(kind)
                rows = rows[:limit]
            result.counts[kind] = len(rows)
            result.rows += rows
        _name(result.rows)
    result.rows.sort(key=lambda row: row["when"], reverse=True)
    return result


@contextmanager
def _without_jit():
    """The review's reads in one transaction with PostgreSQL's JIT compiler off.

    PostgreSQL compiles a query to machine code when its estimated cost is high; the correlated
    subqueries of the edits after verification are estimated far above what they cost, and on
    100,000 patients compiling them took 2 s for a query that runs in 0.2 s.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


# --- filters shared by the kinds -------------------------------------------------------------------


def _centers(user, filters):
    """Center IDs to read (None: all): the user's scope, narrowed by the center filter."""
    scope = center_scope(user)
    if filters.center_id:
        return [filters.center_id] if scope is None or filters.center_id in scope else []
    return scope


def _start(day, *, end=False):
    """The first (or, with ``end``, the last) moment of ``day``, UTC."""
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


def _history_where(filters, centers):
    """The filters on history rows: date range, acting user, centers."""
    where = Q()
    if filters.since:
        where &= Q(history_date__gte=_start(filters.since))
    if filters.until:
        where &= Q(history_date__lte=_start(filters.until, end=True))
    if filters.user_id:
        where &= Q(history_user_id=filters.user_id)
    if centers is not None:
        where &= Q(audit_center_id__in=centers)
    return where


def _patient_key(model):
    return F("id") if model is Patient else F("patient_id")


_ROW_VALUES = (
    "history_id",
    "history_date",
    "history_type",
    "history_user_id",
    "history_change_reason",
    "audit_source",
    "audit_center_id",
    "audit_study_id",
    "id",
)


def _newest(queryset, model, limit, **extra):
    """History rows as dicts, newest first, at most ``limit``."""
    values = queryset.order_by("-history_date", "-history_id").values(
        *_ROW_VALUES, review_patient=_patient_key(model), **extra
    )
    return list(values[:limit])


_BLANK = {
    **dict.fromkeys(("until", "user_id", "patient_id", "record_id", "changes", "records", "patients")),
    **dict.fromkeys(("study_id", "record_type", "record", "action", "source", "reason", "cut", "detail"), ""),
}


def _finding(kind, when, *, center_ids=(), **values):
    """One row of the review and of its CSV: ``values`` over the blanks. ``record_type`` is the
    clinical model's name, as the audit trail filters by it; ``until`` ends a mass edit's hour."""
    return {**_BLANK, "kind": kind, "when": when, "center_ids": list(center_ids), **values}


def _record_row(kind, model, row, *, detail="", cut=""):
    """One finding about one history row (a change of one record)."""
    return _finding(
        kind,
        row["history_date"],
        center_ids=[row["audit_center_id"]],
        user_id=row["history_user_id"],
        study_id=row["audit_study_id"],
        patient_id=row["review_patient"],
        record_type=model._meta.model_name,
        record=str(model._meta.verbose_name),
        record_id=row["id"],
        action=ACTIONS.get(row["history_type"], row["history_type"]),
        source=row["audit_source"],
        reason=row["history_change_reason"] or "",
        cut=cut,
        detail=detail,
    )


def _name(rows):
    """Fill in user names and center codes: one query each for all rows."""
    user_model = get_user_model()
    user_ids = {row["user_id"] for row in rows if row["user_id"]}
    users = dict(user_model._base_manager.filter(pk__in=user_ids).values_list("pk", user_model.USERNAME_FIELD))
    center_ids = {c for row in rows for c in row["center_ids"] if c}
    centers = dict(Center.objects.filter(pk__in=center_ids).values_list("pk", "code"))
    for row in rows:
        row["user"] = users.get(row["user_id"], "system") if row["user_id"] else "system"
        row["center"] = ", ".join(sorted(centers.get(c, str(c)) for c in row["center_ids"] if c))


def _utc(value):
    """A timestamp from raw SQL as an aware UTC datetime (SQLite hands back text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(value):
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else ""


# --- mass edits ----------------------------------------------------------------------------------


def _union(querysets):
    """The SQL of ``querysets`` (the same columns) joined with UNION ALL, and its parameters."""
    compiled = [queryset.query.sql_with_params() for queryset in querysets]
    return " UNION ALL ".join(sql for sql, _params in compiled), [p for _sql, params in compiled for p in params]


def _edits_by_hour(where, **columns):
    """Every clinical change and deletion matching ``where``, over the six history tables, with
    its user and clock hour (UTC) and ``columns``: querysets for ``_union``."""
    return [
        model.history.filter(where, history_type__in=EDITS)
        .order_by()
        .values(
            review_user=F("history_user_id"),
            review_hour=TruncHour("history_date", tzinfo=UTC),
            **{name: make(number, model) for name, make in columns.items()},
        )
        for number, model in enumerate(CLINICAL_MODELS)
    ]


def mass_edits(filters, centers, limit):
    """Hours in which one user changed more than ``filters.threshold`` records: one aggregate
    over all six history tables (records are counted once however often they changed), then
    one query for the sources and centers of the hours found."""
    where = _history_where(filters, centers)
    union, params = _union(
        _edits_by_hour(
            where,
            review_table=lambda number, model: Value(number),
            review_record=lambda number, model: F("id"),
            review_patient=lambda number, model: _patient_key(model),
        )
    )
    records = f"COUNT(DISTINCT review_record * {len(CLINICAL_MODELS)} + review_table)"
    sql = (
        f"SELECT review_user, review_hour, COUNT(*), {records}, COUNT(DISTINCT review_patient)"
        f" FROM ({union}) edits GROUP BY review_user, review_hour HAVING {records} > %s"
        " ORDER BY review_hour DESC, review_user LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, filters.threshold, limit])
        hours = [
            (user_id, _utc(hour), changes, n_records, n_patients)
            for user_id, hour, changes, n_records, n_patients in cursor.fetchall()
        ]
    if not hours:
        return []
    details = _hour_details(where, hours)
    rows = []
    for user_id, hour, changes, n_records, n_patients in hours:
        sources, center_ids = details.get((user_id, hour), (set(), set()))
        detail = _("%(records)d records of %(patients)d patients changed in one hour (%(changes)d changes)") % {
            "records": n_records,
            "patients": n_patients,
            "changes": changes,
        }
        rows.append(
            _finding(
                Kind.MASS_EDIT.value,
                hour,
                center_ids=sorted(center_ids),
                until=hour + timedelta(hours=1),
                user_id=user_id,
                changes=changes,
                records=n_records,
                patients=n_patients,
                source=", ".join(sorted(s for s in sources if s)),
                detail=detail,
            )
        )
    return rows


def _hour_details(where, hours):
    """{(user id, hour): (sources, center IDs)} of the hours found, in one query."""
    users = {user_id for user_id, *_ in hours}
    who = Q(history_user_id__in=[u for u in users if u is not None])
    if None in users:
        who |= Q(history_user__isnull=True)
    first, last = min(h[1] for h in hours), max(h[1] for h in hours)
    narrowed = where & who & Q(history_date__gte=first, history_date__lt=last + timedelta(hours=1))
    union, params = _union(
        _edits_by_hour(
            narrowed,
            review_source=lambda number, model: F("audit_source"),
            review_center=lambda number, model: F("audit_center_id"),
        )
    )
    wanted = {(user_id, hour) for user_id, hour, *_ in hours}
    details = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT review_user, review_hour, review_source, review_center FROM ({union}) edits", params
        )
        for user_id, hour, source, center_id in cursor.fetchall():
            key = (user_id, _utc(hour))
            if key in wanted:
                sources, center_ids = details.setdefault(key, (set(), set()))
                sources.add(source)
                if center_id is not None:
                    center_ids.add(center_id)
    return details


# --- edits after verification ------------------------------------------------------------------------


class _Joined(Func):
    """Its arguments as one text, ``|`` between them: a flat ``||`` chain (Django's ``Concat``
    nests one call per argument, deeper than SQLite's parser takes for a dozen fields)."""

    arg_joiner = " || '|' || "
    template = "(%(expressions)s)"
    output_field = TextField()


def _clinical_fingerprint():
    """A patient history row's clinical content as one text: its case-report fields and center
    (not the lock, the verification or the version, which the data manager's review changes)."""
    names = ["center", *Patient.entry_fields]
    attnames = [Patient._meta.get_field(name).attname for name in names]
    return _Joined(*[Coalesce(Cast(attname, TextField()), Value("")) for attname in attnames])


def edits_after_verification(filters, centers, limit):
    """Clinical changes to verified patients since their verification (``Patient.verified_at``).

    Patient rows: those carrying the patient's current ``verified_at`` after the row that set
    it, whose clinical content differs from the row before (a lock is not an edit), and the
    deletion of a verified patient. Event rows: any write after the patient's ``verified_at``.
    """
    where = _history_where(filters, centers)
    history = Patient.history.model._default_manager
    same_verification_before = history.filter(
        id=OuterRef("id"), verified_at=OuterRef("verified_at"), history_id__lt=OuterRef("history_id")
    )
    previous = (
        history.filter(id=OuterRef("id"), history_id__lt=OuterRef("history_id"))
        .order_by("-history_id")
        .annotate(review_content=_clinical_fingerprint())
        .values("review_content")[:1]
    )
    still_verified = Patient._base_manager.filter(pk=OuterRef("id"), verified_at=OuterRef("verified_at"))
    patient_rows = (
        history.filter(where, verified_at__isnull=False)
        .filter(Exists(same_verification_before))
        .annotate(review_content=_clinical_fingerprint(), review_previous=Subquery(previous))
        .filter(Q(history_type="-") | (Q(Exists(still_verified)) & ~Q(review_content=F("review_previous"))))
    )
    rows = [
        _verified_row(Patient, row)
        for row in _newest(patient_rows, Patient, limit, review_verified_at=F("verified_at"))
    ]
    return _newest_rows(rows + _event_edits_after_verification(where, limit), limit)


def _event_edits_after_verification(where, limit):
    """Writes to the events of verified patients after ``verified_at``: the five event history
    tables read newest first as one (UNION ALL), joined to the patients after the union, so the
    scan stops at ``limit`` rows found in any table rather than reading every table through."""
    events = [model for model in CLINICAL_MODELS if model is not Patient]
    union, params = _union(
        model.history.filter(where)
        .order_by()
        .values(*_ROW_VALUES, review_patient=F("patient_id"), review_table=Value(number))
        for number, model in enumerate(events)
    )
    patient = connection.ops.quote_name(Patient._meta.db_table)
    sql = (
        f"SELECT events.*, p.verified_at AS review_verified_at FROM ({union}) events"
        f" JOIN {patient} p ON p.id = events.review_patient AND events.history_date > p.verified_at"
        " ORDER BY events.history_date DESC, events.history_id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        names = [column[0] for column in cursor.description]
        found = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    for row in found:
        row["history_date"], row["review_verified_at"] = _utc(row["history_date"]), _utc(row["review_verified_at"])
    return [_verified_row(events[row["review_table"]], row) for row in found]


def _verified_row(model, row):
    detail = _("after the patient's data were verified on %(when)s") % {"when": _when(row["review_verified_at"])}
    return _record_row(Kind.AFTER_VERIFICATION.value, model, row, detail=detail)


def _newest_rows(rows, limit):
    rows.sort(key=lambda row: row["when"], reverse=True)
    return rows[:limit]


# --- changes after source verification ------------------------------------------------------------------


def changes_after_source_verification(filters, centers, limit):
    """Fields changed after a monitor verified them against source: the first history row after
    the mark (a later version) that holds another value, or deletes the record.

    Per record type: the records whose version moved since a mark (or which are gone) are found
    in SQL; their history rows (the compared columns only) tell, per record and marked version,
    whether any case-report field changed after it (a lock or a verification moves the version
    without one); only those records' marks are read and compared field by field.
    """
    rows = []
    where = _history_where(filters, None)
    for record_type, model in RECORD_MODELS.items():
        # A record at the version the monitor saw is unchanged since; a later version or none has changed.
        unchanged = model._base_manager.filter(pk=OuterRef("record_id"), version=OuterRef("record_version"))
        marks = SourceVerification.objects.filter(~Exists(unchanged), record_type=record_type)
        if centers is not None:
            marks = marks.filter(patient__center_id__in=centers)
        seen = set(marks.values_list("record_id", "record_version").distinct().order_by())
        if not seen:
            continue
        attnames = sorted({model._meta.get_field(name).attname for name in model.entry_fields})
        histories = {}
        history = model.history.model._default_manager.filter(
            id__in=marks.values("record_id"), version__gte=min(version for _id, version in seen)
        )
        for row in history.order_by("history_id").values_list("id", "history_id", "history_type", "version", *attnames):
            histories.setdefault(row[0], []).append(row)
        changed = {(record_id, version) for record_id, version in seen if _moved(histories.get(record_id, []), version)}
        columns = {name: 4 + attnames.index(model._meta.get_field(name).attname) for name in model.entry_fields}
        changes = {}  # history_id: [(mark pk, field, marked value, new value)]
        ids = sorted({record_id for record_id, _version in changed})
        for begin in range(0, len(ids), CHUNK):
            chunk = marks.filter(record_id__in=ids[begin : begin + CHUNK])
            for pk, record_id, field_name, value, version in chunk.values_list(
                "pk", "record_id", "field", "value", "record_version"
            ):
                if (record_id, version) not in changed:
                    continue
                for row in histories.get(record_id, []):
                    deleted = row[2] == "-" and row[3] >= version
                    now = "" if row[columns[field_name]] is None else str(row[columns[field_name]])
                    if deleted or (row[3] > version and now != value):
                        changes.setdefault(row[1], []).append((pk, field_name, value, None if deleted else now))
                        break
        rows += _source_rows(model, record_type, where, changes)
    return _newest_rows(rows, limit)


def _moved(rows, version):
    """Whether a record's case-report fields changed after ``version`` (or it was deleted), from
    its history ``rows`` (id, history_id, type, version, fields...), oldest first."""
    seen = next((row for row in rows if row[3] == version and row[2] != "-"), None)
    later = [row for row in rows if row[3] > version or (row[2] == "-" and row[3] >= version)]
    return seen is None or any(row[2] == "-" or row[4:] != seen[4:] for row in later)


def _source_rows(model, record_type, where, changes):
    """The findings of ``changes`` ({history_id: [(mark pk, field, marked value, new value)]}),
    their history rows read in full where they match the date and user filters."""
    verified_at = {}
    pks = [mark[0] for found in changes.values() for mark in found]
    for begin in range(0, len(pks), CHUNK):
        marks = SourceVerification.objects.filter(pk__in=pks[begin : begin + CHUNK])
        verified_at.update(marks.values_list("pk", "verified_at"))
    history_ids = sorted(changes)
    rows = []
    for begin in range(0, len(history_ids), CHUNK):
        chunk = model.history.filter(where, history_id__in=history_ids[begin : begin + CHUNK])
        for row in chunk.values(*_ROW_VALUES, review_patient=_patient_key(model)):
            for pk, field_name, value, now in changes[row["history_id"]]:
                change = _("record deleted") if now is None else _("now “%(value)s”") % {"value": now}
                detail = _("%(field)s verified as “%(value)s” on %(when)s; %(change)s") % {
                    "field": field_label(record_type, field_name),
                    "value": value,
                    "when": _when(verified_at.get(pk)),
                    "change": change,
                }
                rows.append(_record_row(Kind.AFTER_SOURCE_VERIFICATION.value, model, row, detail=detail))
    return rows


# --- data cuts ----------------------------------------------------------------------------------------


def _cuts():
    return list(DataCut.objects.select_related("trial").order_by("created_at", "pk"))


def _in_scope(model, cut, *, at_cut=False):
    """History rows of the records in ``cut``'s scope; with ``at_cut``, of the patients its copy holds."""
    path = "" if model is Patient else "patient__"
    where = Q()
    if cut.trial_id:
        where &= Q(**{f"{path}trial_id": cut.trial_id})
    if at_cut:
        where &= Q(**{f"{path}created_at__lte": cut.created_at})
    return where


def _cut_label(cut):
    return f"{cut.name} ({cut.scope_label})"


def edits_before_cuts(filters, centers, limit):
    """Changes and deletions in a cut's scope within ``filters.window_days`` before its creation."""
    where = _history_where(filters, centers)
    rows = []
    for cut in _cuts():
        window = Q(history_date__gte=cut.created_at - timedelta(days=filters.window_days))
        window &= Q(history_date__lt=cut.created_at, history_type__in=EDITS)
        for model in CLINICAL_MODELS:
            for row in _newest(model.history.filter(where, window, _in_scope(model, cut)), model, limit):
                hours = (cut.created_at - row["history_date"]).total_seconds() / 3600
                detail = _("%(hours).1f hours before the data cut %(cut)s was created (%(when)s)") % {
                    "hours": hours,
                    "cut": _cut_label(cut),
                    "when": _when(cut.created_at),
                }
                rows.append(_record_row(Kind.BEFORE_CUT.value, model, row, detail=detail, cut=cut.name))
    return _newest_rows(rows, limit)


def changes_after_cuts(filters, centers, limit):
    """Any write, after a cut was created, to the patients its copy holds (registered before it):
    after its release, or while it was in force (a write around the services and, on PostgreSQL,
    around the database's freeze too)."""
    where = _history_where(filters, centers)
    rows = []
    for cut in _cuts():
        for model in CLINICAL_MODELS:
            after = model.history.filter(where, _in_scope(model, cut, at_cut=True), history_date__gt=cut.created_at)
            for row in _newest(after, model, limit):
                if cut.released_at is None or row["history_date"] < cut.released_at:
                    detail = _("while the data cut %(cut)s was in force (created %(when)s)") % {
                        "cut": _cut_label(cut),
                        "when": _when(cut.created_at),
                    }
                else:
                    detail = _("after the data cut %(cut)s (created %(created)s, released %(released)s)") % {
                        "cut": _cut_label(cut),
                        "created": _when(cut.created_at),
                        "released": _when(cut.released_at),
                    }
                rows.append(_record_row(Kind.AFTER_CUT.value, model, row, detail=detail, cut=cut.name))
    return _newest_rows(rows, limit)


def cut_releases(filters, centers, limit):
    """Released cuts: who, when, why, and the path (page, command). A cut spans centers: the
    center filter does not hide it."""
    cuts = DataCut.objects.filter(released_at__isnull=False).select_related("trial")
    if filters.user_id:
        cuts = cuts.filter(released_by_id=filters.user_id)
    if filters.since:
        cuts = cuts.filter(released_at__gte=_start(filters.since))
    if filters.until:
        cuts = cuts.filter(released_at__lte=_start(filters.until, end=True))
    cuts = list(cuts.order_by("-released_at", "-pk")[:limit])
    sources = {}
    releases = DataCut.history.filter(id__in=[cut.pk for cut in cuts], released_at__isnull=False)
    for cut_id, source in releases.order_by("-history_id").values_list("id", "audit_source"):
        sources[cut_id] = source  # the oldest release row wins: the release itself
    rows = []
    for cut in cuts:
        detail = _("%(cut)s, created %(when)s, %(patients)d patients") % {
            "cut": _cut_label(cut),
            "when": _when(cut.created_at),
            "patients": cut.n_patients,
        }
        rows.append(
            _finding(
                Kind.CUT_RELEASE.value,
                cut.released_at,
                user_id=cut.released_by_id,
                action="released",
                patients=cut.n_patients,
                source=sources.get(cut.pk, ""),
                reason=cut.release_reason,
                cut=cut.name,
                detail=detail,
            )
        )
    return rows
