"""Writing many clinical records at once with PostgreSQL ``COPY``, audited like every other write.

``services.save_courses`` checks every record in memory first (field validators, each record's
rules, the whole course's chronology, permissions, reason, data cuts); on PostgreSQL it then
writes the records here, in its own transaction:

* :func:`insert`: the primary keys are taken from the table's sequence first (one
  ``SELECT nextval(sequence) FROM generate_series(1, n)``), so events can point at patients inserted
  in the same write; then one ``COPY table FROM STDIN`` per table and actor.
* :func:`update`: the new values go by ``COPY`` into a temporary table, then one
  ``UPDATE table ... FROM`` it per table and actor.

Nothing else changes: ``COPY`` and ``UPDATE ... FROM`` fire the same statement-level triggers
as the ORM's ``INSERT`` and ``UPDATE`` (``registry.trail``: one history row per record, with the
actor, reason and source that ``audit.recorded_write`` hands them, exactly as for ``bulk_create``
and ``bulk_update``; the hash chain; the data revision; ``registry.cuts``' refusal of frozen
records). ``created_at``, ``updated_at`` and ``version`` are filled as the ORM fills them (an
update bumps ``version``). A failure raises Django's database error and the caller's
transaction rolls back: all or nothing. SQLite keeps the ORM's bulk operations.
"""

from operator import attrgetter

from django.db import connections

from . import audit
from .audit import recorded_write


def supported(using="default"):
    """True where the COPY path is used (PostgreSQL)."""
    return connections[using].vendor == "postgresql"


def insert(model, objs, *, now, using="default"):
    """Insert ``objs`` (unsaved instances of ``model``) with ``COPY``; each gets its primary key.

    ``now`` becomes ``created_at`` and ``updated_at``. The instances are marked saved afterwards,
    as ``bulk_create`` marks them.
    """
    if not objs:
        return
    connection = connections[using]
    meta = model._meta
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # The sequence is looked up once: inside the series' query it would be looked up per row
        # (six times the cost of the nextval calls themselves).
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [meta.db_table, meta.pk.column])
        sequence = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, len(objs)])
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj.created_at = obj.updated_at = now
    fields = meta.concrete_fields
    columns = ", ".join(quote(f.column) for f in fields)
    row_of = attrgetter(*(f.attname for f in fields))
    sql = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
    try:
        for (user, reason), group in _by_actor(objs):
            with recorded_write(using=using, user=user, reason=reason):
                _copy(connection, sql, map(row_of, group))
    except Exception:
        for obj in objs:
            obj.pk = None  # not written: the instances stay unsaved, as after a failed bulk_create
        raise
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using


def update(model, objs, fields, *, now, using="default"):
    """Write ``fields`` (names) of the stored ``objs`` with ``COPY`` and one ``UPDATE ... FROM``.

    ``updated_at`` becomes ``now`` and ``version`` goes up by one, on the instances too.
    """
    if not objs:
        return
    connection = connections[using]
    meta = model._meta
    quote = connection.ops.quote_name
    written = [meta.get_field(name) for name in fields if name not in ("version", "updated_at")]
    written += [meta.get_field("updated_at"), meta.get_field("version")]
    for obj in objs:
        obj.updated_at = now
        obj.version = (obj.version or 0) + 1
    table, staging = quote(meta.db_table), quote(f"bulk_copy_{meta.db_table}")
    pk = quote(meta.pk.column)
    columns = ", ".join(quote(f.column) for f in written)
    assignments = ", ".join(f"{quote(f.column)} = s.{quote(f.column)}" for f in written)
    row_of = attrgetter(meta.pk.attname, *(f.attname for f in written))
    for (user, reason), group in _by_actor(objs):
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {pk}, {columns} FROM {table} WITH NO DATA"
            )
        _copy(connection, f"COPY {staging} ({pk}, {columns}) FROM STDIN", map(row_of, group))
        with recorded_write(using=using, user=user, reason=reason), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} t SET {assignments} FROM {staging} s WHERE t.{pk} = s.{pk}")
            cursor.execute(f"DROP TABLE {staging}")


def _by_actor(objs):
    """``objs`` grouped by who writes them and why, as ``bulk_create`` groups them for the triggers.

    The usual bulk write names its actor once (``audit_context``): then one group, without
    asking each record (a record of its own actor carries ``_history_user`` or ``_change_reason``).
    """
    if any("_history_user" in obj.__dict__ or "_change_reason" in obj.__dict__ for obj in objs):
        return audit._by_actor(objs)
    return [((audit.user_for(objs[0]), audit.reason_for(objs[0])), objs)]


def _copy(connection, sql, rows):
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
