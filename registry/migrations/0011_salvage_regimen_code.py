"""Salvage lines get the code of their regimen (``registry.vocabularies``).

* ``regimen_code``: "" until coded. On PostgreSQL the database refuses a code that is not in the
  regimen list, and a regimen used by a salvage line can neither change its code nor be deleted
  (set-based checks, as the trail's and the cuts' triggers).
* Lines whose free-text regimen already equals a listed regimen's code or name (case, spacing and
  full-width forms aside) are coded here; the others wait for a data manager on
  /vocabularies/uncoded/. On PostgreSQL the capture triggers record the change with this migration
  as its source and reason. Lines of patients a data cut in force freezes are left alone (the cut's
  trigger refuses any change to them): they are coded when next saved after the cut's release, or
  by a data manager.
"""

import re
import unicodedata
from collections import defaultdict

from django.db import migrations, models

import registry.vocabularies.models

REASON = "Regimen coded from its name (migration 0011)"

CHECKS = r"""
CREATE OR REPLACE FUNCTION registry_salvageline_regimen_known() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unknown text;
BEGIN
    SELECT c.regimen_code INTO unknown FROM changed c
    WHERE c.regimen_code <> '' AND NOT EXISTS (SELECT 1 FROM vocabularies_regimen r WHERE r.code = c.regimen_code)
    LIMIT 1;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'Unknown regimen code "%": not in the registry''s regimen list.', unknown
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER registry_salvageline_regimen_insert AFTER INSERT ON registry_salvageline
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION registry_salvageline_regimen_known();
CREATE TRIGGER registry_salvageline_regimen_update AFTER UPDATE ON registry_salvageline
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION registry_salvageline_regimen_known();

CREATE OR REPLACE FUNCTION vocabularies_regimen_keep_used_code() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR NEW.code IS DISTINCT FROM OLD.code)
       AND EXISTS (SELECT 1 FROM registry_salvageline WHERE regimen_code = OLD.code) THEN
        RAISE EXCEPTION 'Regimen "%" is used by salvage lines: its code cannot change and it cannot be deleted '
            '(make it inactive instead).', OLD.code USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER vocabularies_regimen_keep_used_code BEFORE UPDATE OR DELETE ON vocabularies_regimen
    FOR EACH ROW EXECUTE FUNCTION vocabularies_regimen_keep_used_code();
"""

DROP_CHECKS = r"""
DROP TRIGGER IF EXISTS registry_salvageline_regimen_insert ON registry_salvageline;
DROP TRIGGER IF EXISTS registry_salvageline_regimen_update ON registry_salvageline;
DROP FUNCTION IF EXISTS registry_salvageline_regimen_known();
DROP TRIGGER IF EXISTS vocabularies_regimen_keep_used_code ON vocabularies_regimen;
DROP FUNCTION IF EXISTS vocabularies_regimen_keep_used_code();
"""


def add_checks(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(CHECKS)  # without parameters: the SQL's % signs are its own


def drop_checks(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP_CHECKS)


def add_history_column(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE registry_historicalsalvageline ADD COLUMN regimen_code varchar(30) NULL")
    else:
        schema_editor.execute(
            "ALTER TABLE registry_historicalsalvageline ADD COLUMN regimen_code varchar(30) NOT NULL DEFAULT ''"
        )


def drop_history_column(apps, schema_editor):
    schema_editor.execute("ALTER TABLE registry_historicalsalvageline DROP COLUMN regimen_code")


def _normalise(text):
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(text or ""))).strip().casefold()


def code_existing_lines(apps, schema_editor):
    Regimen = apps.get_model("vocabularies", "Regimen")
    SalvageLine = apps.get_model("registry", "SalvageLine")
    DataCut = apps.get_model("cuts", "DataCut")
    index = {}
    for code, name, name_ja in Regimen.objects.filter(active=True).values_list("code", "name", "name_ja"):
        for text in (name_ja, name, code):
            if text:
                index[_normalise(text)] = code
    in_force = DataCut.objects.filter(released_at__isnull=True)
    if in_force.filter(trial__isnull=True).exists():
        return  # the whole study is frozen
    lines = SalvageLine.objects.filter(regimen_code="").exclude(patient__trial_id__in=in_force.values("trial_id"))
    by_code = defaultdict(list)
    for pk, text in lines.values_list("pk", "regimen"):
        code = index.get(_normalise(text))
        if code:
            by_code[code].append(pk)
    if not by_code:
        return
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('registry.user_id', '', true), set_config('registry.reason', %s, true),"
                " set_config('registry.source', 'migration', true), set_config('registry.change', %s, true)",
                [REASON, "migration-0011"],
            )
    for code, pks in by_code.items():
        for begin in range(0, len(pks), 5000):
            SalvageLine.objects.filter(pk__in=pks[begin : begin + 5000]).update(
                regimen_code=code, version=models.F("version") + 1
            )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0010_translatable_labels"),
        ("vocabularies", "0002_seed_salvage_regimens"),
        ("cuts", "0003_freeze_in_the_database"),
    ]

    operations = [
        # The history table's column is NULL in the rows written before it existed: the hash chain
        # hashes a row without its NULL columns (registry.trail), so every earlier link stays valid.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="historicalsalvageline",
                    name="regimen_code",
                    field=models.CharField(
                        blank=True,
                        default="",
                        help_text="Code of the regimen in the registry's list; empty until coded.",
                        max_length=30,
                        validators=[registry.vocabularies.models.validate_regimen_code],
                        verbose_name="regimen code",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(add_history_column, drop_history_column)],
        ),
        migrations.AddField(
            model_name="salvageline",
            name="regimen_code",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Code of the regimen in the registry's list; empty until coded.",
                max_length=30,
                validators=[registry.vocabularies.models.validate_regimen_code],
                verbose_name="regimen code",
            ),
        ),
        migrations.RunPython(add_checks, drop_checks),
        migrations.RunPython(code_existing_lines, migrations.RunPython.noop),
    ]
