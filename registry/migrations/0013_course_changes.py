"""Which patients' course changed, by which transaction: the log the analyses' course table is
kept up to date from (``analysis.course_table``), on PostgreSQL.

Statement-level triggers on the six clinical tables write one row per statement: the writing
transaction's id and the patients the statement touched (the rows' patient before and after).
A change of a center's or trial's code touches every patient (``patient_ids`` NULL), as does a
TRUNCATE. Like the trail, the triggers sit below the ORM: direct SQL and COPY are logged too.
A reader that built its table from a snapshot asks for the rows of transactions that snapshot did
not see (``pg_visible_in_snapshot``), which is exact whatever order transactions commit in.

SQLite (the embedded demo) has no such triggers; there the table is rebuilt at each data revision.
"""

from django.db import migrations

from registry.trail import CLINICAL_TABLES

TABLE = """
CREATE TABLE IF NOT EXISTS {s}registry_coursechange (
    id bigserial PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    patient_ids bigint[],
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS registry_coursechange_xid ON {s}registry_coursechange (xid);
"""

# {name}: function suffix; {patients}: SELECT of the touched patient ids from the transition tables.
LOG = """
CREATE OR REPLACE FUNCTION {s}registry_course_changed_{name}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    INSERT INTO {s}registry_coursechange (patient_ids)
        SELECT array_agg(DISTINCT patient) FROM ({patients}) touched(patient) HAVING count(patient) > 0;
    RETURN NULL;
END $$;
"""

EVERYONE = """
CREATE OR REPLACE FUNCTION {s}registry_course_changed_everyone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    INSERT INTO {s}registry_coursechange (patient_ids) VALUES (NULL);
    RETURN NULL;
END $$;
"""

RENAMED = """
CREATE OR REPLACE FUNCTION {s}registry_course_changed_code() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF EXISTS (SELECT FROM old_rows o JOIN new_rows n USING (id) WHERE o.code IS DISTINCT FROM n.code) THEN
        INSERT INTO {s}registry_coursechange (patient_ids) VALUES (NULL);
    END IF;
    RETURN NULL;
END $$;
"""


def _schema(cursor):
    cursor.execute("SELECT quote_ident(current_schema())")
    return cursor.fetchone()[0] + "."


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    cursor = schema_editor.connection.cursor()
    s = _schema(cursor)
    cursor.execute(TABLE.replace("{s}", s))
    cursor.execute(EVERYONE.replace("{s}", s))
    cursor.execute(RENAMED.replace("{s}", s))
    for table in CLINICAL_TABLES:
        column = "id" if table == "registry_patient" else "patient_id"
        selects = {
            "insert": f"SELECT {column} FROM new_rows",
            "update": f"SELECT {column} FROM old_rows UNION ALL SELECT {column} FROM new_rows",
            "delete": f"SELECT {column} FROM old_rows",
        }
        for event, patients in selects.items():
            name = f"{table}_{event}"
            cursor.execute(LOG.replace("{s}", s).replace("{name}", name).replace("{patients}", patients))
            referencing = {
                "insert": "NEW TABLE AS new_rows",
                "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                "delete": "OLD TABLE AS old_rows",
            }[event]
            cursor.execute(
                f"CREATE TRIGGER {table}_course_{event} AFTER {event.upper()} ON {s}{table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {s}registry_course_changed_{name}()"
            )
        cursor.execute(
            f"CREATE TRIGGER {table}_course_truncate AFTER TRUNCATE ON {s}{table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {s}registry_course_changed_everyone()"
        )
    for table in ("registry_center", "registry_trial"):
        cursor.execute(
            f"CREATE TRIGGER {table}_course_code AFTER UPDATE ON {s}{table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {s}registry_course_changed_code()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    cursor = schema_editor.connection.cursor()
    s = _schema(cursor)
    for table in CLINICAL_TABLES:
        for event in ("insert", "update", "delete", "truncate"):
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_course_{event} ON {s}{table}")
            if event != "truncate":
                cursor.execute(f"DROP FUNCTION IF EXISTS {s}registry_course_changed_{table}_{event}()")
    for table in ("registry_center", "registry_trial"):
        cursor.execute(f"DROP TRIGGER IF EXISTS {table}_course_code ON {s}{table}")
    cursor.execute(f"DROP FUNCTION IF EXISTS {s}registry_course_changed_everyone()")
    cursor.execute(f"DROP FUNCTION IF EXISTS {s}registry_course_changed_code()")
    cursor.execute(f"DROP TABLE IF EXISTS {s}registry_coursechange")


class Migration(migrations.Migration):
    dependencies = [("registry", "0012_trail_set_based")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
