"""A run's results and figures as PostgreSQL ``json`` (``analysis.models.DocumentField``).

``jsonb`` parsed each run's few MB of results into its binary form on write, more than half of the
time a run spent storing itself at 100,000 patients; nothing queries into them but a figure by
name (``->``, which ``json`` has too). Existing values are converted as they are. Changing the
type drops the column's compression, so lz4 is set again (0004), either way. SQLite keeps its text column.
"""

from importlib import import_module

from django.db import migrations

import analysis.models

lz4 = import_module("analysis.migrations.0004_results_lz4")


class Migration(migrations.Migration):
    dependencies = [("analysis", "0004_results_lz4")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, lz4.forwards),  # back on jsonb: lz4 again
        migrations.AlterField(
            model_name="analysisrun",
            name="figures",
            field=analysis.models.DocumentField(blank=True, default=dict, help_text="Figure name -> SVG text."),
        ),
        migrations.AlterField(
            model_name="analysisrun",
            name="results",
            field=analysis.models.DocumentField(blank=True, null=True),
        ),
        migrations.RunPython(lz4.forwards, migrations.RunPython.noop),
    ]
