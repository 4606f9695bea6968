"""Store a run's results and figures with lz4 compression (PostgreSQL).

A run's results and figures are a few MB of JSON at 100,000 patients; PostgreSQL compresses them
on write (TOAST). lz4 compresses them about twice as fast as the default (pglz) to about the same
size, which is most of the time a run spends storing itself. Values written earlier stay as they
are (both are read alike). Skipped on SQLite, and on a PostgreSQL built without lz4.
"""

from django.db import migrations

COLUMNS = ("results", "figures")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
        if cursor.fetchone() is None:
            return
        columns = ", ".join(f"ALTER COLUMN {column} SET COMPRESSION lz4" for column in COLUMNS)
        cursor.execute(f"ALTER TABLE analysis_analysisrun {columns}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        columns = ", ".join(f"ALTER COLUMN {column} SET COMPRESSION default" for column in COLUMNS)
        cursor.execute(f"ALTER TABLE analysis_analysisrun {columns}")


class Migration(migrations.Migration):
    dependencies = [("analysis", "0003_analysisrun_data_cut")]
    operations = [migrations.RunPython(forwards, backwards)]
