"""The starting regimen and agent lists (``registry.vocabularies.standard``)."""

from django.db import migrations


def seed(apps, schema_editor):
    from registry.vocabularies import standard

    standard.ensure(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("vocabularies", "0001_regimens_and_agents")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
