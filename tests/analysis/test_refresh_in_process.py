"""The embedded demo (no broker): the after-change refresh runs in process once edits are quiet."""

import pytest

from analysis import runs
from analysis.models import AnalysisRun
from registry import services
from tests.factories import relapsed_course


@pytest.mark.django_db(transaction=True)
def test_edits_without_a_broker_lead_to_one_set_of_runs(settings, center, coordinator):
    patients = [relapsed_course(center=center) for _ in range(3)]
    settings.ANALYSIS_REFRESH_IN_PROCESS = True
    settings.ANALYSIS_QUIET_SECONDS = 1
    for patient in patients:  # a burst of edits: each restarts the countdown
        relapse = patient.relapses.get()
        relapse.site = "CNS"
        services.save_record(user=coordinator, record=relapse, source="test", reason="CRF re-read")
    timer = runs._refresh_timer
    timer.join(timeout=120)
    assert not timer.is_alive()
    made = AnalysisRun.objects.filter(trigger=AnalysisRun.Trigger.DATA_CHANGE)
    assert made.count() == len(runs.ANALYSES)
    assert set(made.values_list("status", flat=True)) == {AnalysisRun.Status.SUCCEEDED}


def test_off_with_a_broker(settings):
    settings.ANALYSIS_REFRESH_IN_PROCESS = False
    runs._refresh_timer = None
    runs.refresh_soon()
    assert runs._refresh_timer is None
