"""Analysis runs in the admin: the list, results and figures; schedules are django-celery-beat's."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from registry import access

from . import runs
from .models import AnalysisRun


@admin.register(AnalysisRun)
class AnalysisRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "status",
        "trigger",
        "started_at",
        "duration",
        "n_patients",
        "short_fingerprint",
        "reused_from",
    ]
    list_filter = ["name", "status", "trigger"]
    actions = ["rerun"]
    readonly_fields = [f.name for f in AnalysisRun._meta.fields] + ["figure_gallery", "results_json"]
    exclude = ["results", "figures"]

    def get_queryset(self, request):
        # The same read rule as the report pages and the API.
        return AnalysisRun.objects.for_user(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="duration")
    def duration(self, obj):
        return f"{obj.duration_seconds:.2f} s" if obj.duration_seconds is not None else "-"

    @admin.display(description="fingerprint")
    def short_fingerprint(self, obj):
        return obj.fingerprint[:12]

    @admin.display(description="figures")
    def figure_gallery(self, obj):
        # SVG written by our own code (analysis.svg) from stored numbers, not user input.
        return format_html_join(
            mark_safe(""),
            "<figure><figcaption>{}</figcaption>{}</figure>",
            ((name, mark_safe(svg)) for name, svg in (obj.figures or {}).items()),
        )

    @admin.display(description="results (JSON)")
    def results_json(self, obj):
        return format_html("<pre style='max-height:40em;overflow:auto'>{}</pre>", json.dumps(obj.results, indent=2))

    @admin.action(description="Run the selected analyses again now (queued)")
    def rerun(self, request, queryset):
        if not access.can_recompute(request.user):
            self.message_user(request, access.RECOMPUTE_REFUSED, messages.ERROR)
            return
        # Each selected run's analysis on its own selection (the queryset is the user's runs only).
        selected = {
            (run.name, json.dumps(run.parameters, sort_keys=True)) for run in queryset.only("name", "parameters")
        }
        for name, parameters in sorted(selected):
            runs.request_run(
                name, trigger=AnalysisRun.Trigger.ON_DEMAND, user=request.user, parameters=json.loads(parameters)
            )
        queued = ", ".join(f"{name} {parameters}" for name, parameters in sorted(selected))
        self.message_user(request, gettext("Queued: %(runs)s") % {"runs": queued}, messages.SUCCESS)
