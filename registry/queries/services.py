"""Every write of data queries and source verification marks.

Each service checks the actor's role (``registry.access``), validates, writes in one transaction
and records who, when, why and by which path in the audit trail (``audit_context``), as the
clinical services do. The data-quality rules write through :func:`run_quality_checks` as the
system (``user=None``), in bulk, with one history row per row written.
"""

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import access
from ..audit import audit_context, current_actor
from ..models import Patient
from .models import DataQuery, QueryMessage, SourceVerification, check_field, record_model, stored_value

MESSAGE_MAX = 2000
RULES_SOURCE = "task:run_quality_checks"
_RULES_LOCK = 7_310_042  # pg_advisory_xact_lock key: one rules run at a time


def _text(message):
    text = (message or "").strip()
    if not text:
        raise ValidationError({"message": _("Write a message: it is kept with the query.")})
    if len(text) > MESSAGE_MAX:
        raise ValidationError({"message": _("Keep the message under %(n)d characters.") % {"n": MESSAGE_MAX}})
    return text


def target(record_type, record_id, field=""):
    """The clinical record a query or a verification points at, and its patient (validated)."""
    check_field(record_type, field)
    model = record_model(record_type)
    try:
        record = model._base_manager.filter(pk=int(record_id)).first()
    except (TypeError, ValueError):
        record = None
    if record is None:
        raise ValidationError({"record_id": _("No %(type)s with ID %(id)s.") % {"type": record_type, "id": record_id}})
    patient = record if model is Patient else Patient.objects.select_related("center").get(pk=record.patient_id)
    return record, patient


def _scoped(user, patient):
    """Refuse (404) a patient outside the user's centers, as the clinical pages do."""
    if not Patient.objects.for_user(user).filter(pk=patient.pk).exists():
        raise access.OutsideYourCenters()


def _say(query, action, user, text):
    return QueryMessage.objects.create(query=query, action=action, author=user, text=text)


def _locked(query):
    return DataQuery.objects.select_for_update().select_related("patient").get(pk=query.pk)


@transaction.atomic
def raise_query(*, user, record_type, record_id, field="", message, source):
    """A data manager asks about ``field`` of a record (``field`` empty: the whole record)."""
    if not access.can_raise_queries(user):
        raise access.NotYourRole(access.QUERY_RAISE_REFUSED)
    text = _text(message)
    field = (field or "").strip()
    record, patient = target(record_type, record_id, field)
    _scoped(user, patient)
    query = DataQuery(patient=patient, record_type=record_type, record_id=record.pk, field=field, raised_by=user)
    query.full_clean()
    with audit_context(user=user, reason=_("query raised"), source=source):
        query.save()
        _say(query, QueryMessage.Action.RAISE, user, text)
    return query


@transaction.atomic
def answer_query(*, user, query, message, source):
    """The patient's center's coordinator answers (again, if need be) an open or answered query."""
    query = _locked(query)
    if not access.can_answer_queries(user, query.patient):
        raise access.NotYourRole(access.QUERY_ANSWER_REFUSED)
    text = _text(message)
    if query.status == DataQuery.Status.CLOSED:
        raise ValidationError({"status": _("This query is closed; ask the data manager to reopen it.")})
    return _move(query, user, DataQuery.Status.ANSWERED, QueryMessage.Action.ANSWER, text, source)


@transaction.atomic
def close_query(*, user, query, message, source):
    """The data manager closes a query (answered, or open when it was raised in error)."""
    query = _locked(query)
    if not access.can_raise_queries(user):
        raise access.NotYourRole(access.QUERY_RAISE_REFUSED)
    text = _text(message)
    if query.status == DataQuery.Status.CLOSED:
        raise ValidationError({"status": _("This query is already closed.")})
    return _move(query, user, DataQuery.Status.CLOSED, QueryMessage.Action.CLOSE, text, source)


@transaction.atomic
def reopen_query(*, user, query, message, source):
    """The data manager reopens a closed or answered query: the answer did not settle it."""
    query = _locked(query)
    if not access.can_raise_queries(user):
        raise access.NotYourRole(access.QUERY_RAISE_REFUSED)
    text = _text(message)
    if query.status == DataQuery.Status.OPEN:
        raise ValidationError({"status": _("This query is already open.")})
    return _move(query, user, DataQuery.Status.OPEN, QueryMessage.Action.REOPEN, text, source)


def _move(query, user, status, action, text, source):
    query.status = status
    query.closed_at = timezone.now() if status == DataQuery.Status.CLOSED else None
    query.closed_by_rule = False
    with audit_context(user=user, reason=str(QueryMessage.Action(action).label), source=source):
        query.save()
        _say(query, action, user, text)
    return query


# --- Source data verification -------------------------------------------------------------------


@transaction.atomic
def verify_fields(*, user, record_type, record_id, fields=None, source):
    """Mark ``fields`` of a record (default: every case-report field) verified against source.

    Each mark keeps the value and the record version seen; a field stays verified while its
    value is unchanged (``selectors.field_verification``). Marking again refreshes the mark.
    """
    if not access.can_verify_source(user):
        raise access.NotYourRole(access.SDV_REFUSED)
    record, patient = target(record_type, record_id)
    _scoped(user, patient)
    model = record_model(record_type)
    fields = list(fields or model.entry_fields)
    for field in fields:
        if not field:
            raise ValidationError({"fields": _("Name the fields to verify, or none for the whole record.")})
        check_field(record_type, field)
    now = timezone.now()
    marks = []
    with audit_context(user=user, reason=_("verified against source"), source=source):
        for field in dict.fromkeys(fields):
            mark, _created = SourceVerification.objects.update_or_create(
                record_type=record_type,
                record_id=record.pk,
                field=field,
                defaults={
                    "patient": patient,
                    "value": stored_value(model, record, field),
                    "record_version": record.version,
                    "verified_by": user,
                    "verified_at": now,
                },
            )
            marks.append(mark)
    return marks


# --- Data-quality rules ---------------------------------------------------------------------------


def run_quality_checks(*, as_of=None, source=RULES_SOURCE, rules=None):
    """Run every data-quality rule (``registry.queries.rules.RULES``) as the system.

    A rule raises one query per record and field it finds, never a second one: a query its rule
    closed comes back (reopened) if the data trigger the rule again, and one a data manager
    closed (the value was confirmed) stays closed. A rule closes its own open or answered queries,
    with a note, once the data no longer trigger it. Returns ``{rule code: {"found", "raised",
    "reopened", "closed"}}``. ``as_of`` is the day the rules measure from (default today, UTC).
    """
    from .rules import RULES

    as_of = as_of or timezone.now().date()
    summary = {}
    with transaction.atomic(), audit_context(user=None, reason=_("data-quality rule"), source=source):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RULES_LOCK])
        for rule in rules or RULES:
            summary[rule.code] = _apply_rule(rule, as_of)
    return summary


def _apply_rule(rule, as_of):
    found = {(record_id, field): patient_id for patient_id, record_id, field in rule.find(as_of)}
    existing = {
        (record_id, field): (pk, status, by_rule)
        for pk, record_id, field, status, by_rule in DataQuery.objects.filter(rule=rule.code).values_list(
            "pk", "record_id", "field", "status", "closed_by_rule"
        )
    }
    now = timezone.now()
    new = [
        DataQuery(
            patient_id=patient_id,
            record_type=rule.record_type,
            record_id=record_id,
            field=field,
            rule=rule.code,
            created_at=now,
        )
        for (record_id, field), patient_id in found.items()
        if (record_id, field) not in existing
    ]
    reopen = [pk for key, (pk, status, by_rule) in existing.items() if key in found and status == "closed" and by_rule]
    resolve = [pk for key, (pk, status, _by_rule) in existing.items() if key not in found and status != "closed"]
    created = DataQuery.objects.bulk_create(new, batch_size=2000)
    if connection.vendor != "postgresql" and any(q.pk is None for q in created):
        created = list(DataQuery.objects.filter(rule=rule.code, created_at=now))
    _bulk_messages(created, QueryMessage.Action.RAISE, str(rule.message), now, "+")
    for pks, status, action, text, closed_at in (
        (reopen, DataQuery.Status.OPEN, QueryMessage.Action.REOPEN, str(rule.message), None),
        (resolve, DataQuery.Status.CLOSED, QueryMessage.Action.CLOSE, str(rule.resolved_message), now),
    ):
        for begin in range(0, len(pks), 2000):
            chunk = pks[begin : begin + 2000]
            DataQuery.objects.filter(pk__in=chunk).update(
                status=status, closed_at=closed_at, closed_by_rule=closed_at is not None, updated_at=now
            )
            _bulk_messages(list(DataQuery.objects.filter(pk__in=chunk)), action, text, now, "~")
    return {"found": len(found), "raised": len(created), "reopened": len(reopen), "closed": len(resolve)}


def _bulk_messages(queries, action, text, now, query_history_type):
    """Messages for ``queries`` plus a history row for each query and each message."""
    if not queries:
        return
    messages = QueryMessage.objects.bulk_create(
        [QueryMessage(query=q, action=action, author=None, text=text, created_at=now) for q in queries], batch_size=2000
    )
    patients = dict(
        (pk, (center_id, study_id))
        for pk, center_id, study_id in Patient.objects.filter(pk__in={q.patient_id for q in queries}).values_list(
            "pk", "center_id", "study_id"
        )
    )
    _bulk_history(DataQuery, queries, query_history_type, now, lambda q: patients[q.patient_id])
    by_query = {q.pk: q.patient_id for q in queries}
    _bulk_history(QueryMessage, messages, "+", now, lambda m: patients[by_query[m.query_id]])


def _bulk_history(model, objs, history_type, now, where):
    """History rows for a bulk write, stamped like single saves (actor, reason, source, center)."""
    history_model = model.history.model
    actor = current_actor()
    rows = []
    for obj in objs:
        center_id, study_id = where(obj)
        rows.append(
            history_model(
                history_date=now,
                history_type=history_type,
                history_user=actor.user,
                history_change_reason=actor.reason[:100],
                audit_center_id=center_id,
                audit_study_id=study_id,
                audit_source=actor.source[:120],
                **{field.attname: getattr(obj, field.attname) for field in history_model.tracked_fields},
            )
        )
    history_model.objects.bulk_create(rows, batch_size=2000)
