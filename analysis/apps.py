from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _json_as_text(sender, connection, **kwargs):
    """psycopg hands ``json`` values (a run's results and figures, ``analysis.models.DocumentField``)
    over as text, as Django has it do for ``jsonb``: the field parses them once, with orjson."""
    if connection.vendor == "postgresql":
        from psycopg.types.string import TextLoader

        connection.connection.adapters.register_loader("json", TextLoader)


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Outcome analyses"

    def ready(self):
        from registry.audit import analysis_data_changed
        from registry.ops import handoff

        from . import runs

        connection_created.connect(_json_as_text, dispatch_uid="analysis_json_as_text")
        handoff.register(runs.TASK, model="analysis.AnalysisRun", on_lost=runs.mark_lost)
        analysis_data_changed.connect(runs.refresh_soon, dispatch_uid="analysis_refresh_in_process")
