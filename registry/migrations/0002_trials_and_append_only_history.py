"""Create the two trials, and make the audit history append-only on PostgreSQL.

A trigger on every history table rejects UPDATE and DELETE, for every role including
superusers. A CHECK constraint enforces the infant rule (age at diagnosis under 365 days)
in the database as well as in ``Patient.clean()``.
"""

from datetime import date

from django.db import migrations

HISTORY_TABLES = [
    "registry_historicalpatient",
    "registry_historicalfirstlineresponse",
    "registry_historicalrelapse",
    "registry_historicalsalvageline",
    "registry_historicaltransplant",
    "registry_historicalfollowup",
]

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION registry_history_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'The audit history is append-only: %% on %% is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def create_trials(apps, schema_editor):
    Trial = apps.get_model("registry", "Trial")
    Trial.objects.update_or_create(
        code="MLL96",
        defaults={
            "name": "MLL96: Japan Infant Leukemia Study Group protocol for MLL-rearranged infant ALL",
            "registration_opened": date(1995, 12, 1),
            "registration_closed": date(1998, 1, 31),
        },
    )
    Trial.objects.update_or_create(
        code="MLL98",
        defaults={
            "name": "MLL98: Japan Infant Leukemia Study Group protocol for MLL-rearranged infant ALL",
            "registration_opened": date(1998, 2, 1),
            "registration_closed": date(2001, 12, 31),
        },
    )


def append_only_history(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(APPEND_ONLY_FUNCTION)
    for table in HISTORY_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION registry_history_append_only()"
        )
    schema_editor.execute(
        "ALTER TABLE registry_patient ADD CONSTRAINT patient_infant_at_diagnosis "
        "CHECK (diagnosis_date - date_of_birth < 365)"
    )


def drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in HISTORY_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS registry_history_append_only()")
    schema_editor.execute("ALTER TABLE registry_patient DROP CONSTRAINT IF EXISTS patient_infant_at_diagnosis")


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [
        migrations.RunPython(create_trials, migrations.RunPython.noop),
        migrations.RunPython(append_only_history, drop_append_only),
    ]
