"""A data cut in force freezes its scope in PostgreSQL too: a statement that inserts, changes or
deletes a clinical row of a frozen patient fails, whatever wrote it (the ORM, raw SQL, psql).

The services refuse such writes first, with the cut's name (``registry.cuts.services``); this is the
backstop below the ORM, as the trail's capture triggers are. One check per statement, set-based
(a transition table joined to the patients and the cuts in force), and nothing at all to check while
no cut is in force.
"""

from django.db import migrations

from registry.trail import CLINICAL_TABLES

FUNCTION = r"""
CREATE OR REPLACE FUNCTION {s}cuts_refuse_frozen_{table}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    cut text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {s}cuts_datacut WHERE released_at IS NULL) THEN
        RETURN NULL;
    END IF;
    SELECT d.name INTO cut
    FROM changed c {join}
    JOIN {s}cuts_datacut d ON d.released_at IS NULL AND (d.trial_id IS NULL OR d.trial_id = {trial})
    LIMIT 1;
    IF cut IS NULL AND TG_OP = 'UPDATE' THEN
        SELECT d.name INTO cut
        FROM before c {join}
        JOIN {s}cuts_datacut d ON d.released_at IS NULL AND (d.trial_id IS NULL OR d.trial_id = {trial})
        LIMIT 1;
    END IF;
    IF cut IS NOT NULL THEN
        RAISE EXCEPTION 'Frozen by the data cut "%": no record in its scope can be changed until it is released.', cut
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    cursor = schema_editor.connection.cursor()
    cursor.execute("SELECT quote_ident(current_schema())")
    schema = cursor.fetchone()[0] + "."
    for table in CLINICAL_TABLES:
        if table == "registry_patient":
            join, trial = "", "c.trial_id"
        else:
            join, trial = f"JOIN {schema}registry_patient p ON p.id = c.patient_id", "p.trial_id"
        cursor.execute(
            FUNCTION.replace("{table}", table).replace("{join}", join).replace("{trial}", trial).replace("{s}", schema)
        )
        for event, rows in (
            ("INSERT", "NEW TABLE AS changed"),
            ("UPDATE", "OLD TABLE AS before NEW TABLE AS changed"),
            ("DELETE", "OLD TABLE AS changed"),
        ):
            cursor.execute(
                f"CREATE TRIGGER {table}_frozen_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION cuts_refuse_frozen_{table}()"
            )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    cursor = schema_editor.connection.cursor()
    for table in CLINICAL_TABLES:
        for event in ("insert", "update", "delete"):
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_frozen_{event} ON {table}")
        cursor.execute(f"DROP FUNCTION IF EXISTS cuts_refuse_frozen_{table}()")


class Migration(migrations.Migration):
    dependencies = [("cuts", "0002_append_only_history"), ("registry", "0009_nightly_verify_audit")]

    operations = [migrations.RunPython(forwards, backwards)]
