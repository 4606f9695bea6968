"""``/api/v1/queries/`` and ``/api/v1/verifications/``: composed on the API's one router in
registry/config/urls.py (``routes``), with the same authentication, throttling and schema.

Reads are scoped by ``for_user`` (another center's query is a 404); writes go through
``registry.queries.services``, which refuse a role that may not (403).
"""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ..api.serializers import StrictFieldsMixin
from . import selectors, services
from .models import DataQuery, QueryMessage, RecordType, SourceVerification
from .rules import RULES

SOURCE = "api"
MAX_ID = 2**63 - 1


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = QueryMessage
        fields = ["action", "author", "text", "created_at"]

    def get_author(self, message) -> str:
        return message.author.get_username() if message.author else "rule"


class QuerySerializer(serializers.ModelSerializer):
    study_id = serializers.CharField(source="patient.study_id", read_only=True)
    center = serializers.CharField(source="patient.center.code", read_only=True)
    raised_by = serializers.SerializerMethodField()
    age_days = serializers.SerializerMethodField()
    messages = MessageSerializer(many=True, read_only=True)

    class Meta:
        model = DataQuery
        fields = [
            "id",
            "status",
            "study_id",
            "center",
            "record_type",
            "record_id",
            "field",
            "rule",
            "raised_by",
            "created_at",
            "closed_at",
            "age_days",
            "messages",
        ]

    def get_raised_by(self, query) -> str:
        return query.raised_by.get_username() if query.raised_by else "rule"

    def get_age_days(self, query) -> int:
        return query.age_days()


class RaiseSerializer(StrictFieldsMixin, serializers.Serializer):
    record_type = serializers.ChoiceField(choices=RecordType.choices)
    record_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    field = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    message = serializers.CharField(max_length=2000)


class TextSerializer(StrictFieldsMixin, serializers.Serializer):
    message = serializers.CharField(max_length=2000)


_ERRORS = {
    400: OpenApiResponse(description="Invalid input; messages by field."),
    403: OpenApiResponse(description="Your role may not do this."),
    404: OpenApiResponse(description="No such query among the centers you may see."),
}
_FILTERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=[s for s, _ in DataQuery.Status.choices]),
    OpenApiParameter("center", OpenApiTypes.STR, description="Center code."),
    OpenApiParameter("patient", OpenApiTypes.STR, description="Study ID."),
    OpenApiParameter(
        "age",
        {"type": "integer", "minimum": 0, "maximum": 100_000},
        description="Open for at least this many days.",
    ),
    # Not an enum: an unknown rule matches no query (200, empty), it is not refused.
    OpenApiParameter("rule", OpenApiTypes.STR, description="manual, or a rule: " + ", ".join(r.code for r in RULES)),
]


def _transition(name, summary):
    return extend_schema(summary=summary, request=TextSerializer, responses={200: QuerySerializer, **_ERRORS})


@extend_schema_view(
    list=extend_schema(summary="List data queries", parameters=_FILTERS),
    retrieve=extend_schema(summary="One data query with its messages"),
    create=extend_schema(
        summary="Raise a data query (data managers)",
        request=RaiseSerializer,
        responses={201: QuerySerializer, **_ERRORS},
    ),
)
class QueryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Data queries on fields of clinical records: open -> answered -> closed, and reopened."""

    serializer_class = QuerySerializer
    queryset = DataQuery.objects.none()  # for the schema; get_queryset scopes by user
    filter_backends = []

    def get_queryset(self):
        params = self.request.query_params
        age = params.get("age")
        if age not in (None, ""):
            if not age.isdigit() or int(age) > 100_000:
                raise ValidationError({"age": [_("A number of days (0 or more) is required.")]})
            age = int(age)
        else:
            age = None
        wanted = params.get("status") or None
        if wanted and wanted not in DataQuery.Status.values:
            raise ValidationError(
                {"status": [_("Use one of %(values)s.") % {"values": ", ".join(DataQuery.Status.values)}]}
            )
        qs = selectors.queries_for(
            self.request.user,
            status=wanted,
            center=params.get("center") or None,
            patient=None,
            min_age_days=age,
            rule=params.get("rule") or None,
        )
        if params.get("patient"):
            qs = qs.filter(patient__study_id=params["patient"])
        return qs.prefetch_related("messages__author")

    def create(self, request, *args, **kwargs):
        data = RaiseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        query = services.raise_query(user=request.user, source=SOURCE, **data.validated_data)
        return Response(self._out(query), status=status.HTTP_201_CREATED)

    def _out(self, query):
        fresh = selectors.queries_for(self.request.user).prefetch_related("messages__author").get(pk=query.pk)
        return QuerySerializer(fresh, context=self.get_serializer_context()).data

    def _move(self, request, service):
        query = self.get_object()
        data = TextSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service(user=request.user, query=query, message=data.validated_data["message"], source=SOURCE)
        return Response(self._out(query))

    @_transition("answer", "Answer a query (the coordinators of the patient's center)")
    @action(detail=True, methods=["post"])
    def answer(self, request, pk=None):
        return self._move(request, services.answer_query)

    @_transition("close", "Close a query (data managers)")
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        return self._move(request, services.close_query)

    @_transition("reopen", "Reopen a query (data managers)")
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._move(request, services.reopen_query)


class VerificationSerializer(serializers.ModelSerializer):
    study_id = serializers.CharField(source="patient.study_id", read_only=True)
    verified_by = serializers.SerializerMethodField()
    still_verified = serializers.SerializerMethodField()

    class Meta:
        model = SourceVerification
        fields = [
            "id",
            "study_id",
            "record_type",
            "record_id",
            "field",
            "value",
            "record_version",
            "verified_by",
            "verified_at",
            "still_verified",
        ]

    def get_verified_by(self, mark) -> str:
        return mark.verified_by.get_username() if mark.verified_by else ""

    def get_still_verified(self, mark) -> bool:
        """False once the field's value changed after verification."""
        return self.context.get("current", {}).get(mark.pk, mark.value) == mark.value


class VerifySerializer(StrictFieldsMixin, serializers.Serializer):
    record_type = serializers.ChoiceField(choices=RecordType.choices)
    record_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    fields = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list)


@extend_schema_view(
    list=extend_schema(
        summary="Source data verification marks",
        parameters=[
            # Not an enum: an unknown record type matches no mark (200, empty), it is not refused.
            OpenApiParameter("record_type", OpenApiTypes.STR, description="One of " + ", ".join(RecordType.values)),
            OpenApiParameter("record_id", {"type": "integer", "minimum": 0, "maximum": MAX_ID}),
        ],
    ),
    create=extend_schema(
        summary="Mark fields (none: the whole record) verified against source (data managers)",
        request=VerifySerializer,
        responses={201: VerificationSerializer(many=True), **_ERRORS},
    ),
)
class VerificationViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = VerificationSerializer
    queryset = SourceVerification.objects.none()
    filter_backends = []

    def get_queryset(self):
        qs = SourceVerification.objects.for_user(self.request.user).select_related("patient", "verified_by")
        params = self.request.query_params
        if params.get("record_type"):
            qs = qs.filter(record_type=params["record_type"])
        if params.get("record_id"):
            if not params["record_id"].isdigit() or int(params["record_id"]) > MAX_ID:
                raise ValidationError({"record_id": [_("A valid integer is required.")]})
            qs = qs.filter(record_id=int(params["record_id"]))
        return qs.order_by("pk")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["current"] = getattr(self, "_current", {})
        return context

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self._current = {mark.pk: value for mark, value in selectors.marks_with_current(page or [])}
        return page

    def create(self, request, *args, **kwargs):
        data = VerifySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        marks = services.verify_fields(user=request.user, source=SOURCE, **data.validated_data)
        self._current = {m.pk: m.value for m in marks}
        return Response(self.get_serializer(marks, many=True).data, status=status.HTTP_201_CREATED)


# (prefix, viewset, basename): URL names "api:query-list", "api:query-answer", "api:verification-list".
routes = [("queries", QueryViewSet, "query"), ("verifications", VerificationViewSet, "verification")]
urlpatterns = []
