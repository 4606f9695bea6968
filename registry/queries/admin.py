"""Read-only admin views of queries and verification marks: changes go through the pages and API
(the services), so the audit trail and the access rules cannot be skipped."""

from django.contrib import admin

from ..admin import ReadOnlyAdminMixin
from .models import DataQuery, QueryMessage, SourceVerification


class ReadOnly(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


class MessageInline(admin.TabularInline):
    model = QueryMessage
    fields = ["action", "author", "text", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DataQuery)
class DataQueryAdmin(ReadOnly):
    list_display = ["pk", "status", "patient", "record_type", "record_id", "field", "rule", "created_at"]
    list_filter = ["status", "record_type", "rule"]
    search_fields = ["patient__study_id"]
    inlines = [MessageInline]


@admin.register(SourceVerification)
class SourceVerificationAdmin(ReadOnly):
    list_display = ["patient", "record_type", "record_id", "field", "verified_by", "verified_at"]
    list_filter = ["record_type"]
    search_fields = ["patient__study_id"]
