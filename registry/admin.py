"""The Django admin: users and their roles, centers, trials; clinical data read-only.

Clinical records are entered and corrected on the registry's own pages, through
``registry.services``; the admin shows them (scoped by ``for_user``, with their history) but
cannot add, change or delete them, so it cannot become a path around validation or the
reason-for-change rule. Centers and memberships keep their own history of who changed them.

A change of role, center or access right (staff, superuser, active, groups, permissions) needs
a reason; it is kept on the membership's history and as a security event (``registry.security``).
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .models import Center, FirstLineResponse, FollowUp, Membership, Patient, Relapse, SalvageLine, Transplant, Trial
from .security import events

REASON = "change_reason"
ACCESS_FIELDS = ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]
REASON_REQUIRED = _("Give the reason for this change of role or access; it is kept in the security events.")


def reason_field():
    return forms.CharField(
        label=_("Reason for change"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required when a role, center or access right changes."),
    )


def _shown(form, name, value):
    """A form value as a person reads it: a center's code, a role's label, group names."""
    field = form.fields.get(name)
    if isinstance(field, forms.ModelMultipleChoiceField):
        objects = value if hasattr(value, "__iter__") and not isinstance(value, str) else []
        pks = [getattr(obj, "pk", obj) for obj in objects]
        return ", ".join(sorted(str(obj) for obj in field.queryset.filter(pk__in=pks))) or "-"
    if isinstance(field, forms.ModelChoiceField) and value is not None and not hasattr(value, "pk"):
        value = field.queryset.filter(pk=value).first()
    if isinstance(field, forms.TypedChoiceField | forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
        value = dict(field.choices).get(value, value)
    return "-" if value in (None, "") else str(value)


def _changes(form, names, prefix=""):
    return [
        f"{prefix}{name}: {_shown(form, name, form.initial.get(name))} -> "
        f"{_shown(form, name, form.cleaned_data.get(name))}"
        for name in form.changed_data
        if name in names
    ]


def record_role_change(request, *, subject, changes, reason):
    """One security event for the role and access changes of ``subject`` made in the admin."""
    if changes:
        events.record(
            events.Kind.ROLE_CHANGED,
            request=request,
            detail=f"{subject.get_username()}: " + "; ".join(changes),
            reason=reason,
        )


admin.site.site_header = _("MLL infant leukemia registry")
admin.site.site_title = _("MLL registry admin")


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


class MembershipFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        # The reason is a field of the user form around this inline, in the same POST.
        if any(form.has_changed() for form in self.forms) and not (self.data.get(REASON) or "").strip():
            raise ValidationError(REASON_REQUIRED)


class MembershipInline(admin.StackedInline):
    model = Membership
    formset = MembershipFormSet
    can_delete = False
    extra = 1
    max_num = 1


class RegistryUserChangeForm(UserChangeForm):
    change_reason = reason_field()

    def clean(self):
        cleaned = super().clean()
        if set(self.changed_data) & set(ACCESS_FIELDS) and not (cleaned.get(REASON) or "").strip():
            self.add_error(REASON, REASON_REQUIRED)
        return cleaned


class RegistryUserCreationForm(AdminUserCreationForm):
    change_reason = reason_field()


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class RegistryUserAdmin(UserAdmin):
    form = RegistryUserChangeForm
    add_form = RegistryUserCreationForm
    fieldsets = [*UserAdmin.fieldsets, (_("Reason for a change of role or access"), {"fields": [REASON]})]
    add_fieldsets = [*UserAdmin.add_fieldsets, (_("Reason for the new account's role"), {"fields": [REASON]})]
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

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            inline_form.instance._change_reason = form.cleaned_data.get(REASON, "")  # on the history row
        super().save_formset(request, form, formset, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        membership = [
            item
            for formset in formsets
            for inline_form in formset.forms
            if inline_form.has_changed()
            for item in _changes(inline_form, ["role", "center"], prefix="membership ")
        ]
        access_changes = _changes(form, ACCESS_FIELDS) if change else []
        if not membership and not access_changes:
            return  # nothing about roles or access (an account created without a role yet)
        changes = ([] if change else [str(_("new account"))]) + access_changes + membership
        record_role_change(request, subject=form.instance, changes=changes, reason=form.cleaned_data.get(REASON, ""))


class MembershipForm(forms.ModelForm):
    change_reason = reason_field()

    class Meta:
        model = Membership
        fields = ["user", "role", "center"]

    def clean(self):
        cleaned = super().clean()
        if self.has_changed() and not (cleaned.get(REASON) or "").strip():
            self.add_error(REASON, REASON_REQUIRED)
        return cleaned


@admin.register(Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    form = MembershipForm
    list_display = ["user", "role", "center"]
    list_filter = ["role", "center"]

    def has_delete_permission(self, request, obj=None):
        return False  # a role is changed (with a reason) or the account deactivated, never silently removed

    def save_model(self, request, obj, form, change):
        obj._change_reason = form.cleaned_data.get(REASON, "")
        super().save_model(request, obj, form, change)
        changes = _changes(form, [name for name in form.fields if name != REASON], prefix="membership ")
        record_role_change(request, subject=obj.user, changes=changes, reason=obj._change_reason)


class ReadOnlyAdminMixin:
    """An admin that only reads: the writes go through the services (audit, rules, access)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ClinicalReadOnlyAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """Browse clinical data and its history; writes happen on the registry pages only."""

    def get_queryset(self, request):
        return super().get_queryset(request).for_user(request.user)

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
