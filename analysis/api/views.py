"""The runs API: stored analysis runs, read through ``AnalysisRun.objects.for_user``; nothing is computed here.

A run the user may not read (another center's, or a study-wide run for a center-scoped
investigator) answers 404, as a record of another center does.
"""

import json

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer, JSONRenderer

from registry.api.permissions import CanReadAnalyses

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
        return HttpResponse(svg, content_type="image/svg+xml")
