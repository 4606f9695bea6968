"""django-filter filter sets: ``?trial=MLL98&cns_status=CNS3&diagnosis_after=1999-01-01`` and so on.

Each filter takes exactly what the schema says it takes (ISO dates, ``true``/``false``, whole
numbers) and refuses anything else with a 400 naming the parameter; an empty value is no filter.
"""

from datetime import UTC

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions
from rest_framework.filters import OrderingFilter

from ..models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant

MAX_ID = 2**63 - 1  # the largest primary key the databases hold


class UTCDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, converted to UTC (PostgreSQL refuses offsets beyond +/-15:59)."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError("This date-time is out of range.", code="invalid") from None


class UpdatedAfter(filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class ISODateField(forms.DateField):
    input_formats = ["%Y-%m-%d"]  # the schema's format: date, not the locale's other spellings


class ISODateFilter(filters.DateFilter):
    field_class = ISODateField


class StrictBooleanField(forms.Field):
    """``true`` or ``false`` (what the schema's boolean is on the wire); anything else is refused,
    where django-filter's own boolean would quietly ignore the filter."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        spelled = str(value).lower()
        if spelled not in ("true", "false"):
            raise ValidationError("Use true or false.", code="invalid")
        return spelled == "true"


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class PatientIdFilter(filters.NumberFilter):
    """A patient's id: a patient you may not see, or none with that id, matches nothing (not a 400)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, field_name="patient_id", min_value=1, max_value=MAX_ID, **kwargs)


class PatientFilter(filters.FilterSet):
    trial = filters.CharFilter(field_name="trial__code", help_text="Trial code (MLL96, MLL98).")
    center = filters.CharFilter(field_name="center__code", help_text="Center code.")
    diagnosis_after = ISODateFilter(field_name="diagnosis_date", lookup_expr="gte")
    diagnosis_before = ISODateFilter(field_name="diagnosis_date", lookup_expr="lte")
    updated_after = UpdatedAfter(field_name="updated_at", lookup_expr="gte")
    locked = StrictBooleanFilter()

    class Meta:
        model = Patient
        # The study ID and every coded presenting feature, exactly; the rest by the filters above.
        fields = ["study_id", *(name for name in Patient.entry_fields if Patient._meta.get_field(name).choices)]


def _event_filter(model, date_field, code_fields, boolean_fields=()):
    attrs = {
        "patient": PatientIdFilter(help_text="ID of the patient (see /api/v1/patients/)."),
        "study_id": filters.CharFilter(field_name="patient__study_id"),
        f"{date_field}_after": ISODateFilter(field_name=date_field, lookup_expr="gte"),
        f"{date_field}_before": ISODateFilter(field_name=date_field, lookup_expr="lte"),
        "updated_after": UpdatedAfter(field_name="updated_at", lookup_expr="gte"),
        **{name: StrictBooleanFilter() for name in boolean_fields},
        "Meta": type("Meta", (), {"model": model, "fields": list(code_fields)}),
    }
    return type(f"{model.__name__}Filter", (filters.FilterSet,), attrs)


FirstLineResponseFilter = _event_filter(FirstLineResponse, "assessment_date", ["outcome"])
RelapseFilter = _event_filter(Relapse, "relapse_date", ["site"])
SalvageLineFilter = _event_filter(SalvageLine, "start_date", ["response"])
TransplantFilter = _event_filter(Transplant, "transplant_date", ["transplant_type", "donor", "disease_status"])
FollowUpFilter = _event_filter(FollowUp, "contact_date", ["vital_status"], ["lost_to_follow_up"])


class StrictOrderingFilter(OrderingFilter):
    """``?ordering=field`` (``-field`` descending; several, comma-separated): a field the list cannot be
    ordered by is a 400 naming the ones it can, where DRF would silently use the default order."""

    def get_ordering(self, request, queryset, view):
        given = request.query_params.get(self.ordering_param)
        if not given:
            return self.get_default_ordering(view)
        terms = [term.strip() for term in given.split(",")]
        valid = self.remove_invalid_fields(queryset, terms, view, request)
        if len(valid) != len(terms):
            message = _("Order by one of: %(names)s.") % {"names": ", ".join(self._choices(queryset, view))}
            raise exceptions.ValidationError({self.ordering_param: [message]})
        return valid

    def _choices(self, queryset, view):
        names = [name for name, _label in self.get_valid_fields(queryset, view, {})]
        return [spelled for name in names for spelled in (name, f"-{name}")]

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        queryset = getattr(view, "queryset", None)
        if queryset is None:
            queryset = view.get_queryset()
        parameters[0]["schema"] = {"type": "string", "enum": self._choices(queryset, view)}
        parameters[0]["description"] = "The field to order by (- for descending; several: comma-separated)."
        return parameters
