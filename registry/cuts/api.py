"""``/api/v1/data-cuts/``: composed on the API's one router in registry/config/urls.py (``routes``).

Everyone with a role lists the cuts (name, scope, fingerprint, release); data managers create one
(``POST``: freezes its scope) and release one (``POST .../release/`` with a reason). Writes go
through ``registry.cuts.services``, which refuse another role (403).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ..api.permissions import HasRegistryRole
from . import services
from .models import DataCut

SOURCE = "api"


class DataCutSerializer(serializers.ModelSerializer):
    trial = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    released_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    frozen = serializers.BooleanField(read_only=True)

    class Meta:
        model = DataCut
        fields = [
            "id",
            "name",
            "trial",
            "reason",
            "created_at",
            "created_by",
            "n_patients",
            "data_revision",
            "fingerprint",
            "frozen",
            "released_at",
            "released_by",
            "release_reason",
        ]


class NewCutSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    trial = serializers.ChoiceField(choices=["MLL96", "MLL98"], required=False, allow_null=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ReleaseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text=_("Why the cut is released; kept in the audit trail."))


def _refused(error):
    return ValidationError(error.message_dict if hasattr(error, "error_dict") else {"detail": error.messages})


@extend_schema_view(
    list=extend_schema(summary="Data cuts (newest first)"),
    retrieve=extend_schema(summary="One data cut"),
)
class DataCutViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [HasRegistryRole]
    serializer_class = DataCutSerializer
    queryset = DataCut.objects.none()

    def get_queryset(self):
        return DataCut.objects.defer("snapshot").select_related("trial", "created_by", "released_by")

    @extend_schema(
        summary="Create a data cut: freeze the study or one trial (data managers)",
        request=NewCutSerializer,
        responses={201: DataCutSerializer, 400: OpenApiResponse(description="Name taken, or scope already frozen.")},
    )
    def create(self, request):
        given = NewCutSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            cut = services.create_cut(user=request.user, source=SOURCE, **given.validated_data)
        except DjangoValidationError as error:
            raise _refused(error) from None
        return Response(DataCutSerializer(cut).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Release a data cut with a reason (data managers)",
        request=ReleaseSerializer,
        responses={200: DataCutSerializer, 400: OpenApiResponse(description="No reason, or released already.")},
    )
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        cut = self.get_object()
        given = ReleaseSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            cut = services.release_cut(user=request.user, cut=cut, reason=given.validated_data["reason"], source=SOURCE)
        except DjangoValidationError as error:
            raise _refused(error) from None
        return Response(DataCutSerializer(cut).data)


routes = [("data-cuts", DataCutViewSet, "data-cut")]
urlpatterns = []
