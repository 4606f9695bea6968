"""``?name=os_after_second_line&status=succeeded``: filters of the runs list."""

import django_filters as filters

from ..models import AnalysisRun


class AnalysisRunFilter(filters.FilterSet):
    class Meta:
        model = AnalysisRun
        fields = ["name", "status", "trigger", "fingerprint"]
