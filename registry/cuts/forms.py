"""The forms of the data-cut pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import Trial


class CutForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=120,
        help_text=_('For example "MLL98 final analysis 2026-12-01". Names are unique and kept forever.'),
        widget=forms.TextInput(attrs={"size": 50}),
    )
    trial = forms.ModelChoiceField(
        label=_("Scope"),
        queryset=Trial.objects.order_by("code"),
        to_field_name="code",
        required=False,
        empty_label=_("Whole study (MLL96 and MLL98)"),
    )
    reason = forms.CharField(
        label=_("Purpose"),
        max_length=500,
        required=False,
        help_text=_("Kept with the cut and in the audit trail."),
        widget=forms.TextInput(attrs={"size": 60}),
    )


class ReleaseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for release"),
        max_length=500,
        help_text=_("Stored in the audit trail. After release the data in the cut's scope can be changed again."),
        widget=forms.TextInput(attrs={"size": 60}),
    )
