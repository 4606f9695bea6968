"""Data cuts in the admin: read-only (created and released on the /cuts/ pages, the API or the commands)."""

from django.contrib import admin

from ..admin import ReadOnlyAdminMixin
from .models import DataCut


@admin.register(DataCut)
class DataCutAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "trial", "created_at", "created_by", "n_patients", "fingerprint", "released_at"]
    list_filter = ["trial"]
    exclude = ["snapshot"]
    readonly_fields = [
        "name",
        "trial",
        "reason",
        "created_at",
        "created_by",
        "data_revision",
        "n_patients",
        "fingerprint",
        "released_at",
        "released_by",
        "release_reason",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("snapshot")
