"""Stored runs as JSON: the list without results, one run with its results and figure names."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import AnalysisRun


class AnalysisRunListSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    data_cut = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = AnalysisRun
        fields = [
            "id",
            "name",
            "status",
            "trigger",
            "requested_by",
            "parameters",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "data_revision",
            "fingerprint",
            "code_version",
            "n_patients",
            "error",
            "reused_from",
            "data_cut",
        ]


class AnalysisRunSerializer(AnalysisRunListSerializer):
    results = serializers.JSONField(read_only=True, help_text="See docs/analysis-results.md (shape named in 'schema').")
    figure_names = serializers.SerializerMethodField()

    class Meta(AnalysisRunListSerializer.Meta):
        fields = [*AnalysisRunListSerializer.Meta.fields, "results", "figure_names"]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_figure_names(self, run):
        return sorted(run.figures or {})
