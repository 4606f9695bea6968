"""On PostgreSQL, whatever the path (raw SQL included): the history of signatures is append-only,
with the trigger function of registry migration 0002, and a signature is never deleted and never
changed, except its invalidation, written once (``invalidated_at`` and ``invalidated_reason``)."""

from django.db import migrations

HISTORY_TABLES = ["signatures_historicalsignature"]

GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION signatures_signature_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'Electronic signatures are never deleted (signature %%)', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.invalidated_at IS NOT NULL
       OR (to_jsonb(NEW) - 'invalidated_at' - 'invalidated_reason')
          IS DISTINCT FROM (to_jsonb(OLD) - 'invalidated_at' - 'invalidated_reason') THEN
        RAISE EXCEPTION 'An electronic signature can only be invalidated, once (signature %%)', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in HISTORY_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION registry_history_append_only()"
        )
    schema_editor.execute(GUARD_FUNCTION)
    schema_editor.execute(
        "CREATE TRIGGER signatures_signature_guard BEFORE UPDATE OR DELETE ON signatures_signature "
        "FOR EACH ROW EXECUTE FUNCTION signatures_signature_guard()"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS signatures_signature_guard ON signatures_signature")
    schema_editor.execute("DROP FUNCTION IF EXISTS signatures_signature_guard()")
    for table in HISTORY_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")


class Migration(migrations.Migration):
    dependencies = [("signatures", "0001_initial"), ("registry", "0002_trials_and_append_only_history")]

    operations = [migrations.RunPython(forwards, backwards)]
