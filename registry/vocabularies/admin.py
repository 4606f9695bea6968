"""The regimen and agent lists in the admin: administrators add, rename and retire entries.

Both keep their history (who changed what, when), as centers do. A code is fixed once salvage
lines use it, and nothing is deleted that a line points to: retire it (inactive) instead.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from ..admin import ReadOnlyAdminMixin
from .models import Agent, Regimen, RegimenAlias


@admin.register(Agent)
class AgentAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "name_ja", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name", "name_ja"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # retired (inactive), never deleted: regimens and their history name them


@admin.register(Regimen)
class RegimenAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "name_ja", "agent_list", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name", "name_ja", "description"]
    filter_horizontal = ["agents"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("agents")

    @admin.display(description=Regimen._meta.get_field("agents").verbose_name)
    def agent_list(self, obj):
        return obj.agent_names()

    def get_readonly_fields(self, request, obj=None):
        # Salvage lines point to the code: it cannot change once the regimen exists.
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # salvage lines and their history point to it: make it inactive instead


@admin.register(RegimenAlias)
class RegimenAliasAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """The texts data managers mapped to a code (on /vocabularies/uncoded/, with a reason): read only here."""

    list_display = ["text", "regimen", "created_at", "created_by"]
    list_filter = ["regimen"]
    search_fields = ["text"]
