"""Forms of the query pages: they collect input; the rules live in the models and services."""

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import Center
from .models import DataQuery, field_label, record_model
from .rules import RULES


class MessageForm(forms.Form):
    message = forms.CharField(
        label=_("Message"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        help_text=_("Kept with the query, with your name and the time (UTC)."),
    )


class RaiseQueryForm(MessageForm):
    """A data manager's question on one field of one record (or on the record as a whole)."""

    field = forms.ChoiceField(label=_("Field"), required=False)

    field_order = ["field", "message"]

    def __init__(self, *args, record_type, **kwargs):
        super().__init__(*args, **kwargs)
        fields = record_model(record_type).entry_fields
        self.fields["field"].choices = [("", field_label(record_type, ""))] + [
            (name, field_label(record_type, name)) for name in fields
        ]


class VerifyForm(forms.Form):
    verified = forms.MultipleChoiceField(
        label=_("Fields verified against source"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick none to verify the whole record."),
    )

    def __init__(self, *args, record_type, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["verified"].choices = [
            (name, field_label(record_type, name)) for name in record_model(record_type).entry_fields
        ]


class QueryFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *DataQuery.Status.choices]
    )
    center = forms.ModelChoiceField(
        label=_("Center"), queryset=Center.objects.all(), to_field_name="code", required=False, empty_label=_("All")
    )
    rule = forms.ChoiceField(label=_("Raised by"), required=False)
    patient = forms.CharField(label=_("Study ID"), required=False)

    def __init__(self, *args, see_all_centers=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = [("", _("Anyone")), ("manual", _("A data manager"))] + [
            (r.code, r.title) for r in RULES
        ]
        if not see_all_centers:
            del self.fields["center"]

    def filters(self):
        """Keyword arguments for ``selectors.queries_for``; invalid values filter nothing."""
        data = self.cleaned_data if self.is_valid() else {}
        center = data.get("center")
        return {
            "status": data.get("status") or None,
            "center": center.code if center else None,
            "rule": data.get("rule") or None,
            "patient": (data.get("patient") or "").strip().upper() or None,
        }
