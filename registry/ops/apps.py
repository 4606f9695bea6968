from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "registry.ops"
    label = "ops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from registry.transfer.imports import jobs

        from . import handoff, jsonlog

        jsonlog.install()
        handoff.register(jobs.TASK, model="registry.ImportJob", on_lost=jobs.mark_lost)
