"""The runs API: stored analysis runs, read through ``AnalysisRun.objects.for_user``; nothing is computed here.

A run the user may not read (another center's, or a study-wide run for a center-scoped
investigator) answers 404, as a record of another center does.
"""

import json

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from registry import access
from registry.api.permissions import CanReadAnalyses
from registry.cuts.models import DataCut
from registry.models import Center
from registry.ops import handoff

from .. import analyses, figure_text, runs
from ..models import AnalysisRun
from . import filters
from . import serializers as s


class SVGRenderer(BaseRenderer):
    media_type = "image/svg+xml"
    format = "svg"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data.encode() if isinstance(data, str) else json.dumps(data).encode()


_NOT_YOURS = OpenApiResponse(description="No such run among those you may read (as if it did not exist).")


class ComputeSerializer(serializers.Serializer):
    trial = serializers.ChoiceField(choices=list(runs.TRIALS), required=False, allow_blank=True, default="")
    center = serializers.CharField(max_length=10, required=False, allow_blank=True, default="")
    cut = serializers.CharField(
        max_length=120, required=False, allow_blank=True, default="", help_text="A data cut's name; empty: live data."
    )


class ComputedSerializer(serializers.Serializer):
    runs = serializers.ListField(child=serializers.IntegerField())
    detail = serializers.CharField()


@extend_schema_view(
    list=extend_schema(summary="Stored analysis runs you may read (without results)"),
    retrieve=extend_schema(
        summary="One analysis run with its results (docs/analysis-results.md)",
        responses={200: s.AnalysisRunSerializer, 404: _NOT_YOURS},
    ),
)
class AnalysisRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Stored analysis runs; nothing is computed at request time."""

    permission_classes = [CanReadAnalyses]
    queryset = AnalysisRun.objects.none()  # for the schema; requests use get_queryset
    filterset_class = filters.AnalysisRunFilter
    ordering_fields = ["created_at", "finished_at", "name"]
    ordering = ["-created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AnalysisRun.objects.none()
        qs = AnalysisRun.objects.for_user(self.request.user).select_related("requested_by")
        return qs.defer("results", "figures") if self.action == "list" else qs

    def get_serializer_class(self):
        return s.AnalysisRunListSerializer if self.action == "list" else s.AnalysisRunSerializer

    @extend_schema(
        summary="Compute the report's analyses (investigators, admins): live data or at a data cut",
        request=ComputeSerializer,
        responses={
            202: ComputedSerializer,
            400: OpenApiResponse(description="Unknown trial, center or data cut."),
            403: OpenApiResponse(description="Your role may not recompute."),
        },
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def compute(self, request):
        access.require_recompute(request.user)
        given = ComputeSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        scope = access.center_scope(request.user)
        if scope is not None:
            own = Center.objects.filter(pk__in=scope).values_list("code", flat=True).first()
            if data["center"] not in ("", own):
                raise ValidationError(
                    {"center": _("You may compute for your own center only (%(code)s).") % {"code": own}}
                )
            data["center"] = own
        elif data["center"] and not Center.objects.filter(code=data["center"]).exists():
            raise ValidationError({"center": _("Unknown center %(code)s.") % {"code": data["center"]}})
        cut = None
        if data["cut"]:
            cut = DataCut.objects.defer("snapshot").select_related("trial").filter(name=data["cut"]).first()
            if cut is None:
                raise ValidationError({"cut": _("No data cut named %(name)s.") % {"name": data["cut"]}})
        parameters = {"trial": data["trial"], "center": data["center"]}
        try:
            queued = [
                runs.request_run(
                    name, trigger=AnalysisRun.Trigger.ON_DEMAND, user=request.user, parameters=parameters, cut=cut
                )
                for name in analyses.REPORT_ANALYSES
            ]
        except ValueError as error:
            raise ValidationError({"trial": str(error)}) from None
        waiting = runs.undelivered(queued) > 0
        detail = handoff.undelivered_message() if waiting else _("Queued.")
        return Response({"runs": [r.pk for r in queued], "detail": str(detail)}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="A figure of a run, as SVG",
        responses={(200, "image/svg+xml"): OpenApiTypes.STR, 404: OpenApiResponse(description="No such figure.")},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"figures/(?P<figure>[\w.-]+)",
        renderer_classes=[SVGRenderer, JSONRenderer],
        filter_backends=[],
        pagination_class=None,
    )
    def figure(self, request, pk=None, figure=None):
        run = self.get_object()
        svg = (run.figures or {}).get(figure)
        if svg is None:
            raise NotFound(_("No such figure in this run."))
        # In the language the request asks for (Accept-Language), as the report pages serve it.
        return HttpResponse(figure_text.translate_svg(svg), content_type="image/svg+xml")
