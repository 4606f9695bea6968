"""Change capture at the database and a hash-chained trail (PostgreSQL; see registry/trail.py).

* ``registry_trail_capture_<table>``: AFTER INSERT/UPDATE/DELETE on every clinical table, once per
  statement from its transition table, writes a history row per row written (the new values, or
  the old ones for a delete) with the actor the application set
  in transaction-local settings (``registry.user_id``, ``registry.reason``, ``registry.source``,
  ``registry.change``), or ``db:<role>`` when none is set; and moves the data revision once per
  application change (``registry.change``), or once per transaction for other writers.
* ``registry_trail_version``: BEFORE UPDATE, moves ``version`` (and ``updated_at``) when the
  statement did not.
* ``registry_trail_chain``: BEFORE INSERT on every history table, links the row to the
  previous one: ``chain_seq`` and ``chain_hash`` = sha256(previous hash || canonical row).
  The first insert of a transaction locks the table's head row; the transaction carries on
  from a transaction-local setting and ``registry_trail_head`` moves the head once per
  statement. Existing rows are chained here, in ``history_id`` order.

The functions that write the trail are SECURITY DEFINER: they run as the role that ran this
migration (the owner), so the application role needs no right to change the chain heads.
"""

from django.db import migrations, models

CLINICAL_TABLES = {
    "registry_patient": "registry_historicalpatient",
    "registry_firstlineresponse": "registry_historicalfirstlineresponse",
    "registry_relapse": "registry_historicalrelapse",
    "registry_salvageline": "registry_historicalsalvageline",
    "registry_transplant": "registry_historicaltransplant",
    "registry_followup": "registry_historicalfollowup",
}
HISTORY_TABLES = [*CLINICAL_TABLES.values(), "registry_historicalcenter", "registry_historicalmembership"]

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION {s}registry_trail_row_text(entry jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT jsonb_strip_nulls(entry - 'chain_seq' - 'chain_hash')::text $$;

CREATE OR REPLACE FUNCTION {s}registry_trail_link(previous text, entry jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(previous || {s}registry_trail_row_text(entry), 'UTF8')), 'hex')
$$;

CREATE OR REPLACE FUNCTION registry_trail_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    running text := current_setting('registry.chain_' || TG_TABLE_NAME, true);
    zone text := current_setting('TimeZone');
    head_seq bigint;
    head_hash text;
BEGIN
    IF coalesce(running, '') <> '' THEN
        -- This transaction holds the head's lock already: continue from where it got to.
        head_seq := split_part(running, ':', 1)::bigint;
        head_hash := split_part(running, ':', 2);
    ELSE
        SELECT seq, hash INTO head_seq, head_hash FROM {s}registry_trailhead WHERE table_name = TG_TABLE_NAME FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO {s}registry_trailhead (table_name, seq, hash) VALUES (TG_TABLE_NAME, 0, '')
                ON CONFLICT (table_name) DO NOTHING;
            SELECT seq, hash INTO head_seq, head_hash FROM {s}registry_trailhead
                WHERE table_name = TG_TABLE_NAME FOR UPDATE;
        END IF;
    END IF;
    NEW.chain_seq := head_seq + 1;
    -- Timestamps are hashed as UTC text. The application's sessions are in UTC already; switching
    -- the zone costs time, so only other sessions (psql) pay for it.
    IF zone NOT IN ('UTC', 'Etc/UTC') THEN
        PERFORM set_config('TimeZone', 'UTC', true);
    END IF;
    NEW.chain_hash := {s}registry_trail_link(head_hash, to_jsonb(NEW));
    IF zone NOT IN ('UTC', 'Etc/UTC') THEN
        PERFORM set_config('TimeZone', zone, true);
    END IF;
    PERFORM set_config('registry.chain_' || TG_TABLE_NAME, NEW.chain_seq || ':' || NEW.chain_hash, true);
    RETURN NEW;
END $$;

-- Once per statement, not per row: updating one row thousands of times in a transaction is slow.
CREATE OR REPLACE FUNCTION registry_trail_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    running text := current_setting('registry.chain_' || TG_TABLE_NAME, true);
BEGIN
    IF coalesce(running, '') <> '' THEN
        UPDATE {s}registry_trailhead SET seq = split_part(running, ':', 1)::bigint, hash = split_part(running, ':', 2)
            WHERE table_name = TG_TABLE_NAME AND seq <> split_part(running, ':', 1)::bigint;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION registry_trail_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version IS NOT DISTINCT FROM OLD.version THEN
        NEW.version := OLD.version + 1;
    END IF;
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := clock_timestamp();
    END IF;
    RETURN NEW;
END $$;

"""

CAPTURE = r"""
CREATE OR REPLACE FUNCTION {s}registry_trail_capture_{clinical}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    change text := coalesce(current_setting('registry.change', true), '');
    from_app boolean := change <> '';
    written bigint;
BEGIN
    -- (row).* of a function call would call it once per column: build each row once (OFFSET 0).
    INSERT INTO {s}{history}
    SELECT (entry.row).* FROM (
        SELECT jsonb_populate_record(NULL::{s}{history}, to_jsonb(c) || jsonb_build_object(
            'history_id', nextval('{sequence}'),
            'history_date', clock_timestamp(),
            'history_type', CASE TG_OP WHEN 'INSERT' THEN '+' WHEN 'UPDATE' THEN '~' ELSE '-' END,
            'history_user_id', CASE WHEN from_app THEN nullif(current_setting('registry.user_id', true), '')::bigint END,
            'history_change_reason', CASE WHEN from_app THEN left(current_setting('registry.reason', true), 100)
                                          ELSE '' END,
            'audit_source', left(CASE WHEN from_app THEN current_setting('registry.source', true)
                                      ELSE 'db:' || session_user END, 120),
            'audit_center_id', {center},
            'audit_study_id', coalesce({study}, '')
        )) AS row
        FROM (SELECT * FROM changed ORDER BY id) c {join}
        OFFSET 0
    ) entry;
    GET DIAGNOSTICS written = ROW_COUNT;
    -- The analysis data changed: once per application change, once per transaction otherwise.
    IF written > 0 THEN
        IF NOT from_app THEN
            change := 'tx' || txid_current();
        END IF;
        IF current_setting('registry.revision_key', true) IS DISTINCT FROM change THEN
            INSERT INTO {s}registry_datarevision AS r (id, revision, changed_at) VALUES (1, 1, clock_timestamp())
                ON CONFLICT (id) DO UPDATE SET revision = r.revision + 1, changed_at = excluded.changed_at;
            PERFORM set_config('registry.revision_key', change, true);
        END IF;
    END IF;
    RETURN NULL;
END $$;
"""

CHAIN_EXISTING = r"""
DO $$
DECLARE
    previous text := '';
    seq bigint := 0;
    entry record;
BEGIN
    SET LOCAL TimeZone TO 'UTC';
    FOR entry IN EXECUTE format('SELECT history_id, to_jsonb(h) AS j FROM %I h ORDER BY history_id', '{table}') LOOP
        seq := seq + 1;
        previous := registry_trail_link(previous, entry.j);
        EXECUTE format('UPDATE %I SET chain_seq = $1, chain_hash = $2 WHERE history_id = $3', '{table}')
            USING seq, previous, entry.history_id;
    END LOOP;
    INSERT INTO registry_trailhead (table_name, seq, hash) VALUES ('{table}', seq, previous)
        ON CONFLICT (table_name) DO UPDATE SET seq = excluded.seq, hash = excluded.hash;
END $$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    cursor = schema_editor.connection.cursor()
    execute = cursor.execute  # without parameters: the SQL's % signs are its own
    # The trail's functions run as their owner (SECURITY DEFINER): they name every table and
    # function with its schema, so nothing in a caller's search path (a temporary table) can
    # stand in. (A SET search_path clause would do the same but makes each call several times slower.)
    execute("SELECT quote_ident(current_schema())")
    schema = cursor.fetchone()[0] + "."
    execute(FUNCTIONS.replace("{s}", schema))
    for table in HISTORY_TABLES:
        execute(f"ALTER TABLE {table} ADD COLUMN chain_seq bigint, ADD COLUMN chain_hash text")
        execute(f"CREATE UNIQUE INDEX {table}_chain_seq ON {table} (chain_seq)")
        execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        execute(CHAIN_EXISTING.replace("{table}", table))
        execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
        execute(
            f"CREATE TRIGGER {table}_chain BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION registry_trail_chain()"
        )
        execute(
            f"CREATE TRIGGER {table}_head AFTER INSERT ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION registry_trail_head()"
        )
    for clinical, history in CLINICAL_TABLES.items():
        # One function per table, its SQL planned once; set-based, per statement (a row trigger
        # or a dynamic EXECUTE per row makes bulk writes many times slower).
        execute(f"SELECT pg_get_serial_sequence('{history}', 'history_id')")
        sequence = cursor.fetchone()[0]
        if clinical == "registry_patient":
            center, study, join = "c.center_id", "c.study_id", ""
        else:
            center, study, join = "p.center_id", "p.study_id", f"LEFT JOIN {schema}registry_patient p ON p.id = c.patient_id"
        execute(
            CAPTURE.replace("{clinical}", clinical)
            .replace("{history}", history)
            .replace("{sequence}", sequence)
            .replace("{center}", center)
            .replace("{study}", study)
            .replace("{join}", join)
            .replace("{s}", schema)
        )
        for event, rows in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            execute(
                f"CREATE TRIGGER {clinical}_trail_{event.lower()} AFTER {event} ON {clinical} "
                f"REFERENCING {rows} TABLE AS changed "
                f"FOR EACH STATEMENT EXECUTE FUNCTION registry_trail_capture_{clinical}()"
            )
        execute(
            f"CREATE TRIGGER {clinical}_version BEFORE UPDATE ON {clinical} "
            f"FOR EACH ROW EXECUTE FUNCTION registry_trail_version()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    execute = schema_editor.connection.cursor().execute
    for clinical in CLINICAL_TABLES:
        for event in ("insert", "update", "delete"):
            execute(f"DROP TRIGGER IF EXISTS {clinical}_trail_{event} ON {clinical}")
        execute(f"DROP TRIGGER IF EXISTS {clinical}_version ON {clinical}")
        execute(f"DROP FUNCTION IF EXISTS registry_trail_capture_{clinical}()")
    for table in HISTORY_TABLES:
        execute(f"DROP TRIGGER IF EXISTS {table}_chain ON {table}")
        execute(f"DROP TRIGGER IF EXISTS {table}_head ON {table}")
        execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS chain_seq, DROP COLUMN IF EXISTS chain_hash")
    for function in (
        "registry_trail_version()",
        "registry_trail_chain()",
        "registry_trail_head()",
        "registry_trail_link(text, jsonb)",
        "registry_trail_row_text(jsonb)",
    ):
        execute(f"DROP FUNCTION IF EXISTS {function}")


class Migration(migrations.Migration):
    dependencies = [("registry", "0007_export_log")]

    operations = [
        migrations.CreateModel(
            name="TrailHead",
            fields=[
                ("table_name", models.CharField(max_length=63, primary_key=True, serialize=False)),
                ("seq", models.BigIntegerField(default=0)),
                ("hash", models.CharField(blank=True, max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name="AuditCheck",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("ran_at", models.DateTimeField(auto_now_add=True)),
                ("ok", models.BooleanField()),
                ("message", models.TextField()),
                ("heads", models.JSONField(blank=True, default=dict)),
            ],
            options={"ordering": ["-ran_at", "-pk"]},
        ),
        migrations.RunPython(forwards, backwards),
    ]
