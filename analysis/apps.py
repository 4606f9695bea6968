from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Outcome analyses"

    def ready(self):
        from registry.ops import handoff

        from . import runs

        handoff.register(runs.TASK, model="analysis.AnalysisRun", on_lost=runs.mark_lost)
