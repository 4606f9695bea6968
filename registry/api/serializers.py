"""Serializers: they read and check the shape of the input; the services decide and write.

``create``/``update`` build an unsaved instance and hand it to ``services.save_record``, so the
model rules, the course chronology, the access rules and the audit trail are the same as on
the pages. Unknown fields are refused rather than ignored.
"""

from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .. import services
from ..models import Center, FirstLineResponse, FollowUp, ImportJob, Patient, Relapse, SalvageLine, Transplant, Trial
from ..vocabularies.models import Regimen

API_SOURCE = "api"


# The JSON type each kind of field takes, as the schema says (DRF alone would also take 12 for
# "12", "7" for 7 and "true" for true). Checked in this order: BooleanField before the numbers.
_JSON_TYPES = (
    (serializers.BooleanField, (bool,), _("Must be true or false.")),
    (serializers.DecimalField, (str, int, float), _("Must be a number or a string holding one.")),
    ((serializers.IntegerField, serializers.PrimaryKeyRelatedField), (int,), _("Must be a whole number.")),
    (
        (serializers.CharField, serializers.ChoiceField, serializers.SlugRelatedField, serializers.DateField),
        (str,),
        _("Must be a string."),
    ),
)


def _type_error(field, value):
    """The message for a JSON value of the wrong type for ``field`` (None if it is of the right one)."""
    if value is None:
        return None  # allow_null is the field's own check
    for kinds, json_types, message in _JSON_TYPES:
        if isinstance(field, kinds):
            wrong = not isinstance(value, json_types) or (isinstance(value, bool) and bool not in json_types)
            return message if wrong else None
    return None


class StrictFieldsMixin:
    """Refuse fields the serializer does not know (a typo must not be silently dropped), and in a JSON
    body values of another type than the schema's."""

    def to_internal_value(self, data):
        if not hasattr(data, "keys"):
            return super().to_internal_value(data)
        unknown = sorted(set(data.keys()) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        wrong = {}
        if not isinstance(data, QueryDict):  # JSON, where types are the client's to get right
            wrong = {
                name: [message]
                for name, value in data.items()
                if not self.fields[name].read_only and (message := _type_error(self.fields[name], value))
            }
        try:
            value = super().to_internal_value({k: v for k, v in data.items() if k not in wrong} if wrong else data)
        except serializers.ValidationError as error:  # every field's problem at once
            raise serializers.ValidationError({**error.detail, **wrong}) from None
        if wrong:
            raise serializers.ValidationError(wrong)
        return value


class CenterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Center
        fields = ["id", "code", "name"]


class TrialSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trial
        fields = ["id", "code", "name", "registration_opened", "registration_closed"]


class ClinicalSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """Base of every clinical record: ``version`` (the ETag) and a write-only ``reason`` for changes."""

    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="The record's version. On PUT/PATCH, send it (or an If-Match header) to refuse stale edits.",
    )
    reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="Reason for change (required for edits; or the X-Reason-For-Change header). "
        "Stored in the audit trail.",
    )

    class Meta:
        validators = []  # uniqueness and every other rule: the model's full_clean() in the service

    def _save(self, record, validated_data):
        reason = validated_data.pop("reason", "") or self.context.get("reason", "")
        validated_data.pop("version", None)
        for name, value in validated_data.items():
            setattr(record, name, value)
        return services.save_record(
            user=self.context["request"].user,
            record=record,
            source=API_SOURCE,
            reason=reason,
            expected_version=self.context.get("expected_version"),
        )

    def create(self, validated_data):
        return self._save(self.Meta.model(), validated_data)

    def update(self, instance, validated_data):
        return self._save(instance, validated_data)


class ScopedPatientField(serializers.PrimaryKeyRelatedField):
    """A patient the caller may see (another center's patient 'does not exist')."""

    def get_queryset(self):
        request = self.context.get("request")
        return Patient.objects.for_user(request.user if request else None)


class EventSerializer(ClinicalSerializer):
    patient = ScopedPatientField(help_text="ID of the patient (see /api/v1/patients/).")
    study_id = serializers.CharField(source="patient.study_id", read_only=True)

    def validate_patient(self, patient):
        if self.instance is not None and patient.pk != self.instance.patient_id:
            raise serializers.ValidationError("A record cannot be moved to another patient.")
        return patient


_COMMON = ["id", "version", "created_at", "updated_at", "reason"]


class FirstLineResponseSerializer(EventSerializer):
    class Meta(ClinicalSerializer.Meta):
        model = FirstLineResponse
        fields = ["id", "patient", "study_id", *FirstLineResponse.entry_fields, *_COMMON[1:]]


class RelapseSerializer(EventSerializer):
    class Meta(ClinicalSerializer.Meta):
        model = Relapse
        fields = ["id", "patient", "study_id", *Relapse.entry_fields, *_COMMON[1:]]


class SalvageLineSerializer(EventSerializer):
    regimen_code = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=30,
        help_text='Code of the regimen in the registry\'s list (/vocabularies/regimens/), case-insensitive; "" '
        "while not coded. Left out, a new or changed regimen text is coded if the list knows it (a regimen's "
        "code or name, or a text a data manager mapped); any other text stays uncoded until a data manager "
        "codes it.",
    )

    class Meta(ClinicalSerializer.Meta):
        model = SalvageLine
        fields = ["id", "patient", "study_id", *SalvageLine.entry_fields, "regimen_code", *_COMMON[1:]]

    def validate_regimen_code(self, code):
        code = code.strip().upper()
        if not code or (self.instance is not None and self.instance.regimen_code == code):
            return code
        regimen = Regimen.objects.filter(code=code).first()
        if regimen is None:
            raise serializers.ValidationError(
                _("Unknown regimen code %(code)s: use a code of the registry's regimen list.") % {"code": repr(code)}
            )
        if not regimen.active:
            raise serializers.ValidationError(
                _("Regimen %(code)s is inactive; choose an active one.") % {"code": regimen.code}
            )
        return code

    def validate(self, attrs):
        attrs = super().validate(attrs)
        text = attrs.get("regimen")
        if (
            "regimen_code" not in attrs
            and text is not None
            and (self.instance is None or text != self.instance.regimen)
        ):
            attrs["regimen_code"] = ""  # coded again from the new text, as on the entry page (the model's rule)
        return attrs


class TransplantSerializer(EventSerializer):
    class Meta(ClinicalSerializer.Meta):
        model = Transplant
        fields = ["id", "patient", "study_id", *Transplant.entry_fields, *_COMMON[1:]]


class FollowUpSerializer(EventSerializer):
    class Meta(ClinicalSerializer.Meta):
        model = FollowUp
        fields = ["id", "patient", "study_id", *FollowUp.entry_fields, *_COMMON[1:]]


def _nested(serializer_class):
    """A read-only copy of an event serializer without the patient (it is the parent)."""
    fields = [f for f in serializer_class.Meta.fields if f not in ("patient", "study_id", "reason")]
    meta = type("Meta", (serializer_class.Meta,), {"fields": fields})
    return type(
        f"Nested{serializer_class.__name__}",
        (serializer_class,),
        {
            "Meta": meta,
            "patient": None,
            "study_id": None,
            "reason": None,
        },
    )


NestedFirstLine = _nested(FirstLineResponseSerializer)
NestedRelapse = _nested(RelapseSerializer)
NestedSalvageLine = _nested(SalvageLineSerializer)
NestedTransplant = _nested(TransplantSerializer)
NestedFollowUp = _nested(FollowUpSerializer)


class PatientSerializer(ClinicalSerializer):
    center = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Center.objects.all(),
        required=False,
        help_text="Center code; a coordinator's own center when left out.",
    )
    trial = serializers.SlugRelatedField(slug_field="code", queryset=Trial.objects.all(), help_text="MLL96 or MLL98.")
    age_at_diagnosis_days = serializers.IntegerField(read_only=True, allow_null=True)
    first_line_response = NestedFirstLine(read_only=True, allow_null=True)
    relapses = NestedRelapse(many=True, read_only=True)
    salvage_lines = NestedSalvageLine(many=True, read_only=True)
    transplants = NestedTransplant(many=True, read_only=True)
    follow_ups = NestedFollowUp(many=True, read_only=True)

    class Meta(ClinicalSerializer.Meta):
        model = Patient
        fields = [
            "id",
            "center",
            *Patient.entry_fields,
            "age_at_diagnosis_days",
            "locked",
            "verified_at",
            *_COMMON[1:],
            "first_line_response",
            "relapses",
            "salvage_lines",
            "transplants",
            "follow_ups",
        ]
        read_only_fields = ["locked", "verified_at"]

    def create(self, validated_data):
        if "center" not in validated_data:
            membership = getattr(self.context["request"].user, "membership", None)
            validated_data["center"] = getattr(membership, "center", None)
            if validated_data["center"] is None:
                raise serializers.ValidationError({"center": ["This field is required."]})
        return super().create(validated_data)


class ReviewSerializer(StrictFieldsMixin, serializers.Serializer):
    verify = serializers.BooleanField(required=False, allow_null=True, default=None)
    lock = serializers.BooleanField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(max_length=255)

    def validate(self, attrs):
        if attrs.get("verify") is None and attrs.get("lock") is None:
            raise serializers.ValidationError("Say what to do: verify and/or lock (true or false).")
        return attrs


class ImportJobSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    report = serializers.JSONField(read_only=True, help_text="Counts per sheet and problems by sheet, row and column.")

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "user",
            "file_name",
            "sha256",
            "entity",
            "reason",
            "status",
            "action",
            "rows_total",
            "rows_done",
            "report",
            "created_at",
            "finished_at",
            "committed_at",
        ]
        read_only_fields = fields


class ImportUploadSerializer(StrictFieldsMixin, serializers.Serializer):
    file = serializers.FileField(
        help_text="A .csv, .xlsx or .zip (of CSVs) file laid out as in docs/data-dictionary.md."
    )
    entity = serializers.ChoiceField(
        choices=["", "patients", "first_line_responses", "relapses", "salvage_lines", "transplants", "follow_ups"],
        required=False,
        allow_blank=True,
        help_text="For a CSV file: which entity it holds (else from its name/columns).",
    )
    encoding = serializers.ChoiceField(
        choices=["auto", "utf-8", "cp932"],
        required=False,
        default="auto",
        help_text="Of CSV files (also inside a ZIP): auto (UTF-8, else Shift_JIS), utf-8, or cp932 "
        "(Shift_JIS as Japanese Excel saves 'CSV').",
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="Reason for change, for rows that update stored records.",
    )
