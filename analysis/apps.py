from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Outcome analyses"

    def ready(self):
        from registry.audit import analysis_data_changed
        from registry.ops import handoff

        from . import runs

        handoff.register(runs.TASK, model="analysis.AnalysisRun", on_lost=runs.mark_lost)
        analysis_data_changed.connect(runs.refresh_soon, dispatch_uid="analysis_refresh_in_process")
