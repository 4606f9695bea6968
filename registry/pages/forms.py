"""Forms of the data-entry pages.

The forms only collect input: every rule lives in the models (``clean()``, constraints and
``registry.chronology``) and every write goes through ``registry.services``. The patient is
set on the instance before validation, so course rules report beside the field on the first
POST.
"""

import json

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext_lazy as _

from ..models import (
    CLINICAL_MODELS,
    Center,
    FirstLineResponse,
    FollowUp,
    Patient,
    Relapse,
    SalvageLine,
    Transplant,
    Trial,
)
from ..selectors import PatientStatus
from ..vocabularies.models import Regimen, text_index


class DateInput(forms.DateInput):
    """A native date picker; ISO format so the browser can read the stored value."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class IsoDateInput(forms.TextInput):
    """A date typed as YYYY-MM-DD: the browser's date widget shows mm/dd/yyyy in an English
    locale and takes two Tabs, while the registry and the paper forms write ISO dates."""

    def __init__(self, attrs=None):
        attrs = {
            "inputmode": "numeric",
            "pattern": r"\d{4}-\d{2}-\d{2}",
            "placeholder": "YYYY-MM-DD",
            "autocomplete": "off",
            "size": 10,
            "class": "iso-date",
            **(attrs or {}),
        }
        super().__init__(attrs=attrs)
        self.format = "%Y-%m-%d"

    def format_value(self, value):
        if hasattr(value, "strftime"):
            return value.strftime("%Y-%m-%d")
        return super().format_value(value)


class NumberInput(forms.TextInput):
    """A number typed as text: a browser number field drops "abc" silently and the server then
    says "This field is required"; as text the server sees it and says "Enter a number"."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"inputmode": "decimal", "autocomplete": "off", **(attrs or {})})


class PlainLabels:
    """Labels without Django's trailing colon, as on the paper CRFs."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ClinicalRecordForm(PlainLabels, forms.ModelForm):
    """Base form of every clinical record.

    On edit it asks for a reason for change (stored in the audit trail) and carries the
    version the editor loaded, so a stale edit is refused instead of overwriting another.
    """

    reason = forms.CharField(
        label=_("Reason for change"),
        max_length=255,
        help_text=_("Why is this record being changed? Stored in the audit trail."),
        widget=forms.TextInput(attrs={"size": 60}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            del self.fields["reason"]
        else:
            self.fields["version"].initial = self.instance.version
        for field in self.fields.values():
            if isinstance(field, forms.DateField):
                field.widget = IsoDateInput()
                field.input_formats = ["%Y-%m-%d"]
                field.error_messages["invalid"] = _("Enter the date as YYYY-MM-DD.")
                field.label = format_lazy("{} (YYYY-MM-DD)", field.label)
            elif isinstance(field, forms.DecimalField | forms.FloatField | forms.IntegerField) and not (
                field.widget.is_hidden
            ):
                field.widget = NumberInput()
                field.error_messages["invalid"] = _("Enter a number.")
        first = next((name for name, f in self.fields.items() if not f.widget.is_hidden), None)
        if first:
            self.fields[first].widget.attrs["autofocus"] = True

    @property
    def is_edit(self):
        return self.instance.pk is not None

    def add_service_errors(self, error):
        """Attach a ``ValidationError`` from a service: beside its field when shown, else on top."""
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                if field == NON_FIELD_ERRORS or field not in self.fields:
                    self.add_error(None, errors)
                else:
                    self.add_error(field, errors)
        else:
            self.add_error(None, error.error_list)


class PatientForm(ClinicalRecordForm):
    # Field order follows the registration CRF: identification, then presenting features.
    class Meta:
        model = Patient
        fields = Patient.entry_fields

    def clean_study_id(self):
        return self.cleaned_data["study_id"].strip().upper()


class FirstLineResponseForm(ClinicalRecordForm):
    class Meta:
        model = FirstLineResponse
        fields = FirstLineResponse.entry_fields


class RelapseForm(ClinicalRecordForm):
    class Meta:
        model = Relapse
        fields = Relapse.entry_fields


class RegimenInput(forms.TextInput):
    """The regimen as typed, with the active regimens as a type-ahead pick list (an HTML
    ``<datalist>``: the browser offers them without JavaScript; any other text stays possible)."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "off", "size": 40, **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        regimens = list(Regimen.objects.active().values_list("code", "name", "name_ja"))
        list_id = f"{context['widget']['attrs'].get('id') or name}_list"
        context["widget"]["attrs"]["list"] = list_id
        context["widget"]["attrs"]["data-regimen-codes"] = json.dumps(text_index(), ensure_ascii=False)
        context["regimen_list"] = (list_id, regimens)
        return context

    def render(self, name, value, attrs=None, renderer=None):
        context = self.get_context(name, value, attrs)
        list_id, regimens = context.pop("regimen_list")
        options = format_html_join(
            "",
            '<option value="{}" label="{}"></option>',
            ((label, f"{code} · {name_ja}" if name_ja else code) for code, label, name_ja in regimens),
        )
        field = self._render(self.template_name, context, renderer)
        return format_html('{}<datalist id="{}">{}</datalist>', field, list_id, options)


class SalvageLineForm(ClinicalRecordForm):
    """A salvage line: a regimen picked from the registry's list is coded at once; any other
    text is saved as "other", without a code, until a data manager maps it (``registry.vocabularies``)."""

    class Meta:
        model = SalvageLine
        fields = SalvageLine.entry_fields
        widgets = {"regimen": RegimenInput}
        help_texts = {
            "regimen": _(
                "Pick a regimen from the list to code it. Any other text is saved as “other”, "
                "without a code, and a data manager codes it later."
            )
        }

    def clean(self):
        cleaned = super().clean()
        text = cleaned.get("regimen")
        # A changed (or new) text is coded from the list; an unchanged one keeps its code.
        if text is not None and (self.instance.pk is None or "regimen" in self.changed_data):
            self.instance.regimen_code = ""  # coded again from the new text (SalvageLine.code_regimen)
        return cleaned

    @property
    def coding_note(self):
        """What the page says about the stored line's code (nothing for a new line)."""
        if self.instance.pk is None:
            return ""
        if self.instance.regimen_code:
            return _("Coded as %(code)s.") % {"code": self.instance.regimen_code}
        return _("Not coded yet: a data manager will map this text to a regimen code.")


class TransplantForm(ClinicalRecordForm):
    class Meta:
        model = Transplant
        fields = Transplant.entry_fields


class FollowUpForm(ClinicalRecordForm):
    class Meta:
        model = FollowUp
        fields = FollowUp.entry_fields


# URL slug -> (model, form, label). The slugs name the events in the study's words.
EVENT_KINDS = {
    "first-line": (FirstLineResponse, FirstLineResponseForm, _("first-line response")),
    "relapse": (Relapse, RelapseForm, _("relapse")),
    "salvage": (SalvageLine, SalvageLineForm, _("salvage line")),
    "transplant": (Transplant, TransplantForm, _("HSCT")),
    "follow-up": (FollowUp, FollowUpForm, _("follow-up")),
}
KIND_OF_MODEL = {model: kind for kind, (model, _, _) in EVENT_KINDS.items()}


class ReasonForm(PlainLabels, forms.Form):
    """The reason a data manager gives to delete a record."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Stored in the audit trail."),
        widget=forms.TextInput(attrs={"size": 60}),
    )


class ReviewForm(ReasonForm):
    """A data manager's review action on a patient, with its reason."""

    ACTIONS = {
        "verify": {"verify": True},
        "unverify": {"verify": False},
        "lock": {"lock": True},
        "unlock": {"lock": False},
    }
    action = forms.ChoiceField(choices=[(a, a.capitalize()) for a in ACTIONS], widget=forms.HiddenInput)


class PatientFilterForm(PlainLabels, forms.Form):
    q = forms.CharField(
        label=_("Study ID"), required=False, widget=forms.SearchInput(attrs={"placeholder": "MLL96-0012"})
    )
    trial = forms.ModelChoiceField(
        label=_("Trial"),
        queryset=Trial.objects.all(),
        to_field_name="code",
        required=False,
        empty_label=_("All trials"),
    )
    center = forms.ModelChoiceField(
        label=_("Center"),
        queryset=Center.objects.all(),
        to_field_name="code",
        required=False,
        empty_label=_("All centers"),
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("Any status")), *PatientStatus.CHOICES], required=False
    )

    def __init__(self, *args, see_all_centers=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not see_all_centers:
            del self.fields["center"]

    def filters(self):
        """Keyword arguments for ``selectors.patients_for``; invalid values filter nothing."""
        data = self.cleaned_data if self.is_valid() else {}
        trial, center = data.get("trial"), data.get("center")
        return {
            "search": data.get("q", ""),
            "trial": trial.code if trial else None,
            "center": center.code if center else None,
            "status": data.get("status") or None,
        }


class AuditFilterForm(PlainLabels, forms.Form):
    user = forms.ModelChoiceField(
        label=_("User"), queryset=get_user_model().objects.order_by("username"), required=False, empty_label=_("Anyone")
    )
    center = forms.ModelChoiceField(
        label=_("Center"), queryset=Center.objects.all(), required=False, empty_label=_("All centers")
    )
    study_id = forms.CharField(label=_("Study ID"), required=False)
    record_type = forms.ChoiceField(
        label=_("Record type"),
        choices=[("", _("All records"))]
        + [(m._meta.model_name, capfirst(m._meta.verbose_name)) for m in CLINICAL_MODELS],
        required=False,
    )
    since = forms.DateField(label=_("From (UTC)"), required=False, widget=DateInput)
    until = forms.DateField(label=_("To (UTC)"), required=False, widget=DateInput)

    def filters(self):
        """Keyword arguments for ``selectors.audit_trail``; an invalid form filters nothing."""
        data = self.cleaned_data if self.is_valid() else {}
        user, center = data.get("user"), data.get("center")
        return {
            "user_id": user.pk if user else None,
            "center_id": center.pk if center else None,
            "study_id": data.get("study_id", ""),
            "record_type": data.get("record_type", ""),
            "since": data.get("since"),
            "until": data.get("until"),
        }
