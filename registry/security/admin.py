"""Security events in the admin: view and export only. Nobody, a superuser included, may add,
change or delete them (and PostgreSQL refuses it too). The login and failure logs of django-axes
become read-only as well; second-factor devices can only be removed (recorded), never read."""

from axes.admin import AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessFailureLog, AccessLog
from django.contrib import admin
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from .. import access
from . import events, twofactor
from .models import SecurityEvent


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "kind", "user", "username", "ip_address", "detail", "reason"]
    list_filter = ["kind", "at"]
    search_fields = ["username", "ip_address", "detail", "reason", "user_agent"]
    date_hierarchy = "at"
    list_select_related = ["user"]
    actions = ["export_csv"]

    def has_view_permission(self, request, obj=None):
        return access.can_audit(request.user)

    def has_module_permission(self, request):
        return access.can_audit(request.user)

    @admin.action(description=gettext_lazy("Export the selected events as CSV"))
    def export_csv(self, request, queryset):
        content = events.export_csv(request=request, events=queryset)
        response = HttpResponse(content, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="security-events-{timezone.now():%Y%m%d}.csv"'
        return response


for model, model_admin in [(AccessLog, AccessLogAdmin), (AccessFailureLog, AccessFailureLogAdmin)]:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, type(f"ReadOnly{model_admin.__name__}", (ReadOnlyAdminMixin, model_admin), {}))


class SecondFactorAdmin(admin.ModelAdmin):
    """Who has which second factor; an admin may remove a lost one (the user then enrols again)."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__username"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]  # never the secret or the codes
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        detail = _("%(username)s: removed by an administrator in the admin") % {"username": obj.user.get_username()}
        twofactor.remove(request, user=obj.user, detail=detail)

    def delete_queryset(self, request, queryset):
        for device in queryset.select_related("user"):
            self.delete_model(request, device)


for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, SecondFactorAdmin)
