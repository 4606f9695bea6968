"""The audit trail: who changed which clinical record, when (UTC), from what to what, and why.

History rows are written by django-simple-history. Three things close its gaps so that no
write path can skip the trail:

* ``audit_context(user=..., reason=..., source=...)`` names the actor and the reason for every
  write made inside it (pages, admin, API, imports, management commands, Celery tasks), even
  where there is no web request.
* ``ClinicalRecord.save()/delete()`` refuse an edit or a delete without a reason.
* ``AuditedQuerySet`` records history for ``update()``, ``bulk_create()`` and ``bulk_update()``,
  which simple-history alone does not see, and requires a reason for them too.

On PostgreSQL the database writes the history rows instead (``registry.trail``, migration
0008): triggers on the clinical tables record every write whatever its path, including raw
SQL; a trigger (migration 0002) rejects UPDATE and DELETE of history rows; every history row
is hash-chained. There the Python side writes no history row: it only hands the actor of each
ORM write to the triggers (``recorded_write``), so each write has exactly one history row.

Every history row written is also a change of the analysis data, so the data revision moves
where the history rows are written: here on SQLite (``data_changed``), in the capture trigger
on PostgreSQL. Inside one ``audit_context`` entered in a transaction (every service opens one)
the revision moves once, however many rows change.
"""

import contextvars
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connections, models, transaction
from django.dispatch import Signal, receiver
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record


class ReasonRequired(ValidationError):
    """Raised when a clinical record is changed or deleted without a reason for change."""

    def __init__(self, action="change"):
        super().__init__(
            {"reason": _reason_message(action)},
            code="reason_required",
        )


def _reason_message(action):
    if action == "deletion":
        return _("A reason for deletion is required; it is stored in the audit trail.")
    if action == "release":
        return _("A reason for release is required; it is stored in the audit trail.")
    return _("A reason for change is required; it is stored in the audit trail.")


@dataclass(frozen=True)
class AuditActor:
    user: object = None
    reason: str = ""
    source: str = ""


# Sent after the commit of a transaction that changed clinical data through the ORM (once per
# change); ``analysis`` listens to refresh its runs in process when there is no broker (the embedded demo).
analysis_data_changed = Signal()

_actor = contextvars.ContextVar("registry_audit_actor", default=AuditActor())  # noqa: B039 (frozen, immutable)


@dataclass
class _DataChange:
    """The writes of one ``audit_context`` in one transaction: whether they moved the data revision yet."""

    bumped: bool = False
    announced: bool = False
    # The same key for every write of the change: the capture trigger moves the revision once per key.
    key: str = field(default_factory=lambda: uuid.uuid4().hex)


_data_change = contextvars.ContextVar("registry_data_change", default=None)


@contextmanager
def _one_data_change(using="default"):
    """Within the block, the data revision moves at most once (in a transaction only: the
    bump must be rolled back with the writes it stands for)."""
    token = None
    if _data_change.get() is None and connections[using].in_atomic_block:
        token = _data_change.set(_DataChange())
    try:
        yield
    finally:
        if token is not None:
            _data_change.reset(token)


def _announce_change(using):
    """Send ``analysis_data_changed`` once the writing transaction commits (once per change)."""
    change = _data_change.get()
    if change is not None:
        if change.announced:
            return
        change.announced = True
    transaction.on_commit(lambda: analysis_data_changed.send(sender=_DataChange), using=using)


def captured_by_database(using="default"):
    """True where the database's triggers write the trail and move the data revision (PostgreSQL)."""
    return connections[using].vendor == "postgresql"


def data_changed(using="default"):
    """Mark the analysis data as changed: ``DataRevision.bump()``, inside the writing transaction.

    Called for every history row written from Python (the one place the revision moves on
    SQLite); once per ``audit_context`` entered in a transaction, so one service write moves it
    once. On PostgreSQL a no-op: the capture trigger moves it, with the same once-per-change rule.
    """
    if captured_by_database(using):
        return
    _announce_change(using)
    change = _data_change.get()
    if change is not None and change.bumped:
        return
    from .models import DataRevision

    DataRevision.bump()
    if change is not None:
        change.bumped = True


@contextmanager
def audit_context(*, user=None, reason="", source=""):
    """Attribute every clinical write inside the block to ``user`` with ``reason``.

    ``source`` says which path made the change (``page``, ``admin``, ``api``,
    ``import:<file name>``, ``command:<name>``, ``task:<name>``).
    """
    outer = _actor.get()
    token = _actor.set(
        AuditActor(
            user=user if user is not None else outer.user,
            reason=(reason or "").strip() or outer.reason,
            source=source or outer.source,
        )
    )
    try:
        with _one_data_change():
            yield
    finally:
        _actor.reset(token)


def current_actor():
    return _actor.get()


def reason_for(instance):
    """The reason attached to ``instance`` for this write, else the one of the current context."""
    return (getattr(instance, "_change_reason", "") or "").strip() or current_actor().reason


def user_for(instance):
    """Who makes this write: the instance's ``_history_user``, the signed-in user of the request
    (simple-history's middleware), else the user of the current ``audit_context``."""
    user = getattr(instance, "_history_user", None)
    if user is None:
        request = getattr(HistoricalRecords.context, "request", None)
        request_user = getattr(request, "user", None)
        if request_user is not None and request_user.is_authenticated:
            user = request_user
    return user if user is not None else current_actor().user


_CONTEXT_SQL = (
    "SELECT set_config('registry.user_id', %s, true), set_config('registry.reason', %s, true),"
    " set_config('registry.source', %s, true), set_config('registry.change', %s, true)"
)


@contextmanager
def recorded_write(instance=None, *, using="default", user=None, reason=None):
    """Hand the actor of the ORM writes in the block to PostgreSQL's capture triggers.

    The actor (``user_for(instance)`` and ``reason_for(instance)``, or the given ``user`` and
    ``reason``, else the current ``audit_context``'s) goes into transaction-local settings for
    the block only, so a later write without them (raw SQL, the base manager) is recorded as
    the database role's. On SQLite nothing to do: simple-history writes the rows.
    """
    connection = connections[using]
    if not captured_by_database(using):
        yield
        return
    actor = current_actor()
    if instance is not None:
        user, reason = user_for(instance), reason_for(instance)
    user = actor.user if user is None else user
    reason = actor.reason if reason is None else reason
    change = _data_change.get()
    key = change.key if change is not None else uuid.uuid4().hex
    values = [str(getattr(user, "pk", None) or ""), reason[:100], actor.source[:120], key]
    _announce_change(using)
    with transaction.atomic(using=using, savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(_CONTEXT_SQL, values)
        yield
        with connection.cursor() as cursor:
            cursor.execute(_CONTEXT_SQL, ["", "", "", ""])


class _StudyIdIndex:
    """The history tables' index on ``audit_study_id`` (``AuditFields``), declared here rather than
    with ``db_index`` so PostgreSQL gets a plain btree only: the trail is searched by exact study ID
    (``selectors.audit_trail``), never by pattern, and each history row written skips a second index."""

    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        name = f"hist_{model._meta.model_name[:16]}_study"
        options["indexes"] = (*options.get("indexes", ()), models.Index(fields=["audit_study_id"], name=name))
        return options


class AuditedHistoricalRecords(_StudyIdIndex, HistoricalRecords):
    """simple-history, reading the actor and the reason from ``audit_context`` when no request has them.

    On PostgreSQL it writes nothing: the capture triggers record every write (``registry.trail``).
    """

    def get_history_user(self, instance):
        return user_for(instance)

    def get_change_reason_for_object(self, instance, history_type, using):
        return reason_for(instance)[:255]

    def post_save(self, instance, created, using=None, **kwargs):
        if not captured_by_database(using or "default"):
            super().post_save(instance, created, using=using, **kwargs)

    def post_delete(self, instance, using=None, **kwargs):
        if not captured_by_database(using or "default"):
            super().post_delete(instance, using=using, **kwargs)

    def create_historical_record(self, instance, history_type, using=None):
        """The history row of one save or delete; the analysis data changed."""
        super().create_historical_record(instance, history_type, using=using)
        data_changed()


class RecordedHistoricalRecords(_StudyIdIndex, HistoricalRecords):
    """simple-history for the data-management records (queries, verification marks, data cuts,
    signatures): the clinical trail's actor, reason and source (``audit_context``; the
    ``AuditFields`` columns), written by the ORM on every database. Unlike the clinical records'
    history it does not move the analysis data revision: none of these changes the analysis data."""

    def get_history_user(self, instance):
        user = super().get_history_user(instance)
        return user if user is not None else current_actor().user

    def get_change_reason_for_object(self, instance, history_type, using):
        return reason_for(instance)[:100]


class AuditFields(models.Model):
    """Extra columns on every history table, so the trail can be filtered by center and study ID."""

    audit_center_id = models.BigIntegerField(null=True, db_index=True)
    audit_study_id = models.CharField(max_length=20, blank=True)  # indexed by ``_StudyIdIndex``
    audit_source = models.CharField(max_length=120, blank=True)

    class Meta:
        abstract = True


def _fill_audit_fields(history_row, instance):
    history_row.audit_center_id = instance.audit_center_id()
    history_row.audit_study_id = instance.audit_study_id()
    history_row.audit_source = current_actor().source[:120]


@receiver(pre_create_historical_record)
def _stamp_history_row(sender, instance, history_instance, **kwargs):
    if isinstance(history_instance, AuditFields):
        _fill_audit_fields(history_instance, instance)


def write_history(model, objs, history_type, using="default"):
    """Write one history row per object in ``objs`` (already saved) with the current actor.

    The database copies each row's stored values into its history table (``INSERT ... SELECT``,
    one statement per 1,000 objects), so a bulk write costs no Python work per row. Also marks
    the analysis data as changed (``data_changed``), as single saves do.
    """
    if not objs or captured_by_database(using):
        return  # on PostgreSQL the capture triggers have written them
    data_changed(using)
    actor = current_actor()
    # ``model.history`` builds a new manager on every access: look it up once, not per row.
    history_model = model.history.model
    meta = history_model._meta
    tracked = [field.attname for field in history_model.tracked_fields]
    path = model.audit_patient_path  # where the center and the study ID are read
    connection = connections[using]
    quote = connection.ops.quote_name
    columns = ["history_date", "history_type", "history_user", "history_change_reason", "audit_source"]
    columns += [field.name for field in history_model.tracked_fields] + ["audit_center_id", "audit_study_id"]
    insert = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(meta.get_field(c).column) for c in columns)})"
    now = meta.get_field("history_date").get_db_prep_save(timezone.now(), connection)
    groups = {}
    for obj in objs:
        user = getattr(obj, "_history_user", None) or actor.user
        key = (getattr(user, "pk", None), reason_for(obj)[:255])
        groups.setdefault(key, []).append(obj.pk)
    with connection.cursor() as cursor:
        for (user_id, reason), pks in groups.items():
            for begin in range(0, len(pks), 1000):
                rows = (
                    model._base_manager.using(using)
                    .filter(pk__in=pks[begin : begin + 1000])
                    .order_by()
                    .values_list(*tracked, f"{path}center_id", f"{path}study_id")
                )
                sql, params = rows.query.sql_with_params()
                cursor.execute(
                    f"{insert} SELECT %s, %s, %s, %s, %s, copied.* FROM ({sql}) copied",
                    [now, history_type, user_id, reason, actor.source[:120], *params],
                )


class AuditedQuerySet(models.QuerySet):
    """QuerySet whose set-based writes are audited like single saves."""

    def update(self, **kwargs):
        if not current_actor().reason:
            raise ReasonRequired("change")
        kwargs.setdefault("version", models.F("version") + 1)
        if captured_by_database(self.db):
            with recorded_write(using=self.db):
                return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            pks = list(self.values_list("pk", flat=True))
            count = super().update(**kwargs)
            write_history(self.model, [self.model(pk=pk) for pk in pks], "~", using=self.db)
        return count

    def delete(self):
        if not current_actor().reason:
            raise ReasonRequired("deletion")
        # Django sends post_delete per object because simple-history listens, so each row is
        # recorded (and the data revision moves once for them all).
        with transaction.atomic(using=self.db), _one_data_change(self.db), recorded_write(using=self.db):
            return super().delete()

    def bulk_create(self, objs, *args, **kwargs):
        if kwargs.get("update_conflicts") or kwargs.get("ignore_conflicts"):
            raise ValueError("Conflict-tolerant bulk_create bypasses the audit trail; use the services instead")
        objs = list(objs)
        with transaction.atomic(using=self.db), _one_data_change(self.db):
            if captured_by_database(self.db):
                for (user, reason), group in _by_actor(objs):
                    with recorded_write(using=self.db, user=user, reason=reason):
                        super().bulk_create(group, *args, **kwargs)
                return objs
            created = super().bulk_create(objs, *args, **kwargs)
            write_history(self.model, created, "+", using=self.db)
        return created

    def bulk_update(self, objs, fields, *args, **kwargs):
        if not current_actor().reason:
            raise ReasonRequired("change")
        objs = list(objs)
        fields = list(fields)
        if any(f.name == "version" for f in self.model._meta.fields) and "version" not in fields:
            for obj in objs:
                obj.version = (obj.version or 0) + 1
            fields.append("version")
        plain = models.QuerySet(self.model, using=self.db)
        with transaction.atomic(using=self.db), _one_data_change(self.db):
            if captured_by_database(self.db):
                count = 0
                for (user, reason), group in _by_actor(objs):
                    with recorded_write(using=self.db, user=user, reason=reason):
                        count += plain.bulk_update(group, fields, *args, **kwargs)
                return count
            # Django's bulk_update calls update() per batch; the plain QuerySet keeps that update
            # from writing a second history row (and a second version bump) for every object.
            count = plain.bulk_update(objs, fields, *args, **kwargs)
            write_history(self.model, objs, "~", using=self.db)
        return count


def _by_actor(objs):
    """``objs`` grouped by who writes them and why, for the capture triggers (one actor per statement)."""
    groups = {}
    for obj in objs:
        user = user_for(obj)
        key = (getattr(user, "pk", None), reason_for(obj))
        groups.setdefault(key, (user, key[1], []))[2].append(obj)
    return [((user, reason), group) for user, reason, group in groups.values()]
