"""The Django admin: users and their roles, centers, trials; clinical data read-only.

Clinical records are entered and corrected on the registry's own pages, through
``registry.services``; the admin shows them (scoped by ``for_user``, with their history) but
cannot add, change or delete them, so it cannot become a path around validation or the
reason-for-change rule. Centers and memberships keep their own history of who changed them.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from simple_history.admin import SimpleHistoryAdmin

from .models import Center, FirstLineResponse, FollowUp, Membership, Patient, Relapse, SalvageLine, Transplant, Trial

admin.site.site_header = "MLL infant leukemia registry"
admin.site.site_title = "MLL registry admin"


@admin.register(Center)
class CenterAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]

    def has_delete_permission(self, request, obj=None):
        return False  # centers own patients and history; they are renamed, never deleted


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "registration_opened", "registration_closed"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.StackedInline):
    model = Membership
    can_delete = False
    extra = 1
    max_num = 1


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class RegistryUserAdmin(UserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "email", "role", "center", "is_active", "is_staff", "last_login"]
    list_filter = ["membership__role", "membership__center", "is_active", "is_staff"]
    list_select_related = ["membership", "membership__center"]

    @admin.display(ordering="membership__role")
    def role(self, obj):
        membership = getattr(obj, "membership", None)
        return membership.get_role_display() if membership else "-"

    @admin.display(ordering="membership__center__code")
    def center(self, obj):
        membership = getattr(obj, "membership", None)
        return membership.center.code if membership and membership.center_id else "all"


@admin.register(Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    list_display = ["user", "role", "center"]
    list_filter = ["role", "center"]


class ClinicalReadOnlyAdmin(SimpleHistoryAdmin):
    """Browse clinical data and its history; writes happen on the registry pages only."""

    def get_queryset(self, request):
        return super().get_queryset(request).for_user(request.user)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}


@admin.register(Patient)
class PatientAdmin(ClinicalReadOnlyAdmin):
    list_display = ["study_id", "center", "trial", "sex", "diagnosis_date", "mll_partner", "locked", "verified_at"]
    list_filter = ["trial", "center", "mll_partner", "cns_status", "locked"]
    search_fields = ["study_id"]


@admin.register(FirstLineResponse, Relapse, SalvageLine, Transplant, FollowUp)
class EventAdmin(ClinicalReadOnlyAdmin):
    list_select_related = ["patient"]
    search_fields = ["patient__study_id"]
    list_filter = ["patient__center"]
