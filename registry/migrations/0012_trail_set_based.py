"""The trail written set-based: a bulk write pays for its history rows and their chain once per statement.

Migration 0008 built each history row through JSON (``jsonb_populate_record(to_jsonb(c) || ...)``)
and chained it in a BEFORE INSERT row trigger that read and wrote transaction-local settings for
every row; at 100,000 patients an import spent more than a minute there. From here on:

* ``registry_trail_capture_<table>`` names the history table's columns (generated here from the
  catalogue), copies the clinical row's columns as they are and chains the rows in the same
  ``INSERT ... SELECT``: ``chain_seq`` = head + row number, ``chain_hash`` = the running
  aggregate ``registry_trail_chained`` over the rows in ``id`` order, which applies
  ``registry_trail_link`` (the one definition of a link, unchanged: sha256(previous hash || the
  row as JSON without NULLs and chain columns, in UTC)) to each. It then moves the head once.
* ``registry_trail_chain``, the row trigger, now fires only for rows the capture did not link
  (its ``WHEN`` clause): any INSERT made by a statement (``pg_trigger_depth() = 0``), by another
  role than the trail's owner, or without chain columns. It overwrites whatever chain columns
  such a row brings, so a direct INSERT or COPY into a history table is still chained, by any
  role. Only the owner's own trigger functions (the capture) may hand in a link; the owner can
  switch the triggers off anyway, and ``verify_audit`` recomputes every link whatever wrote it.
* ``registry_trail_version`` fires only when the UPDATE left ``version`` or ``updated_at`` as
  they were (the ORM and ``bulk_copy`` move both).

Every existing row and link stays as it is; ``registry.trail.verify`` is unchanged.

A later migration that adds a column to a clinical table and its history table must create the
capture again, as migration 0015 does it (``import_module("registry.migrations.0015_trail_text_by_column")
.create_capture``): the capture names its columns. ``tests/test_trail.py`` fails until it does.
"""

from importlib import import_module

from django.db import migrations

CLINICAL_TABLES = {
    "registry_patient": "registry_historicalpatient",
    "registry_firstlineresponse": "registry_historicalfirstlineresponse",
    "registry_relapse": "registry_historicalrelapse",
    "registry_salvageline": "registry_historicalsalvageline",
    "registry_transplant": "registry_historicaltransplant",
    "registry_followup": "registry_historicalfollowup",
}
HISTORY_TABLES = [*CLINICAL_TABLES.values(), "registry_historicalcenter", "registry_historicalmembership"]
CHAIN_COLUMNS = ("chain_seq", "chain_hash")

FUNCTIONS = r"""
-- The chain's one definition, in two steps: the hash of a row's canonical text after the hash
-- before it; a link is that of the row as JSON (registry_trail_row_text, 0008).
CREATE OR REPLACE FUNCTION {s}registry_trail_next(previous text, row_text text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT encode(sha256(convert_to(previous || row_text, 'UTF8')), 'hex') $$;

CREATE OR REPLACE FUNCTION {s}registry_trail_link(previous text, entry jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT {s}registry_trail_next(previous, {s}registry_trail_row_text(entry)) $$;

-- The chain of a statement's rows as a running aggregate (a window ordered like chain_seq):
-- each row's link after the one before it, the first after ``start`` (the head's hash). The
-- row texts are computed by the query, set-based; a PL/pgSQL step is the cheapest per call.
CREATE OR REPLACE FUNCTION {s}registry_trail_chain_step(previous text, row_text text, start text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN {s}registry_trail_next(coalesce(previous, start), row_text);
END $$;

CREATE OR REPLACE AGGREGATE {s}registry_trail_chained(row_text text, start text) (
    SFUNC = {s}registry_trail_chain_step, STYPE = text
);

-- The head of a history table's chain, locked for this transaction: from the transaction-local
-- setting once this transaction has written the table, else from registry_trailhead.
CREATE OR REPLACE FUNCTION {s}registry_trail_take_head(history text, OUT seq bigint, OUT hash text)
LANGUAGE plpgsql AS $$
DECLARE
    running text := current_setting('registry.chain_' || history, true);
BEGIN
    IF coalesce(running, '') <> '' THEN
        seq := split_part(running, ':', 1)::bigint;
        hash := split_part(running, ':', 2);
        RETURN;
    END IF;
    SELECT h.seq, h.hash INTO seq, hash FROM {s}registry_trailhead h WHERE h.table_name = history FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO {s}registry_trailhead (table_name, seq, hash) VALUES (history, 0, '')
            ON CONFLICT (table_name) DO NOTHING;
        SELECT h.seq, h.hash INTO seq, hash FROM {s}registry_trailhead h WHERE h.table_name = history FOR UPDATE;
    END IF;
END $$;

-- Rows the capture did not link: each one after the head, as in 0008.
CREATE OR REPLACE FUNCTION {s}registry_trail_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    zone text := current_setting('TimeZone');
    head record;
BEGIN
    SELECT * INTO head FROM {s}registry_trail_take_head(TG_TABLE_NAME);
    NEW.chain_seq := head.seq + 1;
    -- Timestamps are hashed as UTC text. The application's sessions are in UTC already; switching
    -- the zone costs time, so only other sessions (psql) pay for it.
    IF zone NOT IN ('UTC', 'Etc/UTC') THEN
        PERFORM set_config('TimeZone', 'UTC', true);
    END IF;
    NEW.chain_hash := {s}registry_trail_link(head.hash, to_jsonb(NEW));
    IF zone NOT IN ('UTC', 'Etc/UTC') THEN
        PERFORM set_config('TimeZone', zone, true);
    END IF;
    PERFORM set_config('registry.chain_' || TG_TABLE_NAME, NEW.chain_seq || ':' || NEW.chain_hash, true);
    RETURN NEW;
END $$;
"""

CAPTURE = r"""
CREATE OR REPLACE FUNCTION {s}registry_trail_capture_{clinical}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    change text := coalesce(current_setting('registry.change', true), '');
    from_app boolean := change <> '';
    zone text := current_setting('TimeZone');
    head record;
    last_hash text;
    written bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM changed) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO head FROM {s}registry_trail_take_head('{history}');
    IF zone NOT IN ('UTC', 'Etc/UTC') THEN
        PERFORM set_config('TimeZone', 'UTC', true);  -- the chain hashes timestamps as UTC text
    END IF;
    -- Volatile values (nextval, clock_timestamp) are computed after the ORDER BY: history_id,
    -- chain_seq and the chain all follow id. The row trigger lets these links through (its WHEN).
    INSERT INTO {s}{history} ({columns}, chain_seq, chain_hash)
    SELECT h.*, head.seq + row_number() OVER w,
           {s}registry_trail_chained({row_text}, head.hash) OVER w
    FROM (
        SELECT {values}
        FROM changed c {join}
        ORDER BY c.id
        OFFSET 0
    ) h
    WINDOW w AS (ORDER BY h.id);
    GET DIAGNOSTICS written = ROW_COUNT;
    IF zone NOT IN ('UTC', 'Etc/UTC') THEN
        PERFORM set_config('TimeZone', zone, true);
    END IF;
    SELECT chain_hash INTO last_hash FROM {s}{history} WHERE chain_seq = head.seq + written;
    UPDATE {s}registry_trailhead SET seq = head.seq + written, hash = last_hash
        WHERE table_name = '{history}' AND seq <> head.seq + written;
    PERFORM set_config('registry.chain_{history}', (head.seq + written) || ':' || last_hash, true);
    -- The analysis data changed: once per application change, once per transaction otherwise.
    IF NOT from_app THEN
        change := 'tx' || txid_current();
    END IF;
    IF current_setting('registry.revision_key', true) IS DISTINCT FROM change THEN
        INSERT INTO {s}registry_datarevision AS r (id, revision, changed_at) VALUES (1, 1, clock_timestamp())
            ON CONFLICT (id) DO UPDATE SET revision = r.revision + 1, changed_at = excluded.changed_at;
        PERFORM set_config('registry.revision_key', change, true);
    END IF;
    RETURN NULL;
END $$;
"""

# The history row's own columns; every other one is copied from the clinical row.
HISTORY_VALUES = {
    "history_id": "nextval('{sequence}')",
    "history_date": "clock_timestamp()",
    "history_type": "CASE TG_OP WHEN 'INSERT' THEN '+' WHEN 'UPDATE' THEN '~' ELSE '-' END",
    "history_user_id": "CASE WHEN from_app THEN nullif(current_setting('registry.user_id', true), '')::bigint END",
    "history_change_reason": "CASE WHEN from_app THEN left(current_setting('registry.reason', true), 100) ELSE '' END",
    "audit_source": (
        "left(CASE WHEN from_app THEN current_setting('registry.source', true) ELSE 'db:' || session_user END, 120)"
    ),
    "audit_center_id": "{center}",
    "audit_study_id": "coalesce({study}, '')",
}

COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""


def _schema(cursor):
    cursor.execute("SELECT quote_ident(current_schema())")
    return cursor.fetchone()[0] + "."


# A row's canonical text as the capture computes it: by default from the row as JSON
# (``registry_trail_row_text``); migration 0015 passes its column-by-column equivalent.
def json_row_text(schema, history_columns):
    return f"{schema}registry_trail_row_text(to_jsonb(h))"


def create_capture(schema_editor, row_text=json_row_text):
    """(Re)create every clinical table's capture function for the columns its tables have now;
    ``row_text(schema, history columns)`` is the SQL of a row's canonical text (the row is ``h``)."""
    cursor = schema_editor.connection.cursor()
    schema = _schema(cursor)
    for clinical, history in CLINICAL_TABLES.items():
        cursor.execute(COLUMNS, [clinical])
        clinical_types = dict(cursor.fetchall())
        cursor.execute(COLUMNS, [history])
        history_columns = [(name, kind) for name, kind in cursor.fetchall() if name not in CHAIN_COLUMNS]
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'history_id')", [history])
        sequence = cursor.fetchone()[0]
        if clinical == "registry_patient":
            center, study, join = "c.center_id", "c.study_id", ""
        else:
            center, study = "p.center_id", "p.study_id"
            join = f"LEFT JOIN {schema}registry_patient p ON p.id = c.patient_id"
        values = []
        for name, kind in history_columns:
            if name in HISTORY_VALUES:
                value = HISTORY_VALUES[name].replace("{sequence}", sequence)
                value = value.replace("{center}", center).replace("{study}", study)
                values.append(f"({value})::{kind} AS {name}")
            elif name in clinical_types:
                # The history row is hashed as stored: a value of another type is cast to the column's.
                cast = "" if clinical_types[name] == kind else f"::{kind}"
                values.append(f"c.{name}{cast} AS {name}")
            else:
                raise RuntimeError(f"{history}.{name} has no value in the capture of {clinical}")
        missing = set(clinical_types) - {name for name, _ in history_columns}
        if missing:
            raise RuntimeError(f"{clinical} columns without a history column: {sorted(missing)}")
        cursor.execute(
            CAPTURE.replace("{clinical}", clinical)
            .replace("{history}", history)
            .replace("{columns}", ", ".join(name for name, _ in history_columns))
            .replace("{values}", ",\n               ".join(values))
            .replace("{join}", join)
            .replace("{row_text}", row_text(schema, [name for name, _ in history_columns]))
            .replace("{s}", schema)
        )


def _chain_triggers(cursor, when):
    for table in HISTORY_TABLES:
        cursor.execute(f"DROP TRIGGER {table}_chain ON {table}")
        cursor.execute(
            f"CREATE TRIGGER {table}_chain BEFORE INSERT ON {table} FOR EACH ROW {when}"
            f"EXECUTE FUNCTION registry_trail_chain()"
        )


def _version_triggers(cursor, when):
    for clinical in CLINICAL_TABLES:
        cursor.execute(f"DROP TRIGGER {clinical}_version ON {clinical}")
        cursor.execute(
            f"CREATE TRIGGER {clinical}_version BEFORE UPDATE ON {clinical} FOR EACH ROW {when}"
            f"EXECUTE FUNCTION registry_trail_version()"
        )


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    cursor = schema_editor.connection.cursor()
    schema = _schema(cursor)
    cursor.execute(FUNCTIONS.replace("{s}", schema))  # without parameters: the SQL's % signs are its own
    create_capture(schema_editor)
    # The capture's links are trusted only from inside the trail owner's own trigger functions:
    # the role the SECURITY DEFINER capture functions run as. Everything else is chained here.
    cursor.execute(
        "SELECT DISTINCT quote_literal(pg_get_userbyid(proowner)) FROM pg_proc"
        " WHERE proname LIKE 'registry\\_trail\\_capture\\_%' AND pronamespace = current_schema()::regnamespace"
    )
    owners = cursor.fetchall()
    if len(owners) != 1:
        raise RuntimeError(f"The capture functions should have one owner, not {owners}")
    owner = owners[0][0]
    _chain_triggers(cursor, f"WHEN (NEW.chain_seq IS NULL OR pg_trigger_depth() = 0 OR current_user <> {owner}::name) ")
    _version_triggers(
        cursor,
        "WHEN (NEW.version IS NOT DISTINCT FROM OLD.version OR NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at) ",
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    cursor = schema_editor.connection.cursor()
    schema = _schema(cursor)
    _chain_triggers(cursor, "")
    _version_triggers(cursor, "")
    # 0008's functions, which 0008's capture and row trigger were; they take every column by JSON.
    trail_0008 = import_module("registry.migrations.0008_trail_capture_and_chain")
    cursor.execute(trail_0008.FUNCTIONS.replace("{s}", schema))
    for clinical, history in CLINICAL_TABLES.items():
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'history_id')", [history])
        sequence = cursor.fetchone()[0]
        if clinical == "registry_patient":
            center, study, join = "c.center_id", "c.study_id", ""
        else:
            center, study = "p.center_id", "p.study_id"
            join = f"LEFT JOIN {schema}registry_patient p ON p.id = c.patient_id"
        cursor.execute(
            trail_0008.CAPTURE.replace("{clinical}", clinical)
            .replace("{history}", history)
            .replace("{sequence}", sequence)
            .replace("{center}", center)
            .replace("{study}", study)
            .replace("{join}", join)
            .replace("{s}", schema)
        )
    cursor.execute(f"DROP AGGREGATE IF EXISTS {schema}registry_trail_chained(text, text)")
    cursor.execute(f"DROP FUNCTION IF EXISTS {schema}registry_trail_chain_step(text, text, text)")
    cursor.execute(f"DROP FUNCTION IF EXISTS {schema}registry_trail_next(text, text)")
    cursor.execute(f"DROP FUNCTION IF EXISTS {schema}registry_trail_take_head(text)")


class Migration(migrations.Migration):
    dependencies = [("registry", "0011_salvage_regimen_code")]

    operations = [migrations.RunPython(forwards, backwards)]
