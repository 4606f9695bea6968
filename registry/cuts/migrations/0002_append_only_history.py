"""The history of data cuts is append-only on PostgreSQL, with the trigger function of registry
migration 0002 (UPDATE and DELETE are refused)."""

from django.db import migrations

TABLES = ["cuts_historicaldatacut"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION registry_history_append_only()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")


class Migration(migrations.Migration):
    dependencies = [("cuts", "0001_initial"), ("registry", "0002_trials_and_append_only_history")]

    operations = [migrations.RunPython(forwards, backwards)]
