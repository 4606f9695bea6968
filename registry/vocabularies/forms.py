"""The data manager's form that maps a regimen text, as entered, to a regimen code."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Regimen


class CodeTextForm(forms.Form):
    # The text exactly as entered: not stripped, so it still matches its lines.
    text = forms.CharField(widget=forms.HiddenInput, max_length=120, strip=False)
    regimen = forms.ModelChoiceField(
        label=_("Regimen code"),
        queryset=Regimen.objects.active(),
        to_field_name="code",
        empty_label=_("Choose a code"),
        error_messages={"invalid_choice": _("Choose an active regimen code from the list.")},
    )
    reason = forms.CharField(label=_("Reason for change"), max_length=255)
