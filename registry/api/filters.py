"""django-filter filter sets: ``?trial=MLL98&cns_status=CNS3&diagnosis_after=1999-01-01`` and so on."""

from datetime import UTC

import django_filters as filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

from ..models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant


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


class PatientFilter(filters.FilterSet):
    trial = filters.CharFilter(field_name="trial__code", help_text="Trial code (MLL96, MLL98).")
    center = filters.CharFilter(field_name="center__code", help_text="Center code.")
    diagnosis_after = filters.DateFilter(field_name="diagnosis_date", lookup_expr="gte")
    diagnosis_before = filters.DateFilter(field_name="diagnosis_date", lookup_expr="lte")
    updated_after = UpdatedAfter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Patient
        # The study ID and every coded presenting feature, exactly; the rest by the filters above.
        fields = [
            "study_id",
            *(name for name in Patient.entry_fields if Patient._meta.get_field(name).choices),
            "locked",
        ]


def _event_filter(model, date_field, code_fields):
    attrs = {
        "study_id": filters.CharFilter(field_name="patient__study_id"),
        f"{date_field}_after": filters.DateFilter(field_name=date_field, lookup_expr="gte"),
        f"{date_field}_before": filters.DateFilter(field_name=date_field, lookup_expr="lte"),
        "updated_after": UpdatedAfter(field_name="updated_at", lookup_expr="gte"),
        "Meta": type("Meta", (), {"model": model, "fields": ["patient", *code_fields]}),
    }
    return type(f"{model.__name__}Filter", (filters.FilterSet,), attrs)


FirstLineResponseFilter = _event_filter(FirstLineResponse, "assessment_date", ["outcome"])
RelapseFilter = _event_filter(Relapse, "relapse_date", ["site"])
SalvageLineFilter = _event_filter(SalvageLine, "start_date", ["response"])
TransplantFilter = _event_filter(Transplant, "transplant_date", ["transplant_type", "donor", "disease_status"])
FollowUpFilter = _event_filter(FollowUp, "contact_date", ["vital_status", "lost_to_follow_up"])
