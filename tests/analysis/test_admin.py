"""analysis.admin: the runs list reads through for_user; re-running keeps each run's selection."""

import pytest
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory

from analysis.admin import AnalysisRunAdmin
from analysis.models import AnalysisRun

pytestmark = pytest.mark.django_db


def _request(user):
    request = RequestFactory().post("/admin/analysis/analysisrun/")
    request.user = user
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


@pytest.fixture
def model_admin():
    return AnalysisRunAdmin(AnalysisRun, admin.site)


@pytest.fixture
def runs(center):
    return [
        AnalysisRun.objects.create(name="cohort_summary", trigger="command", parameters={}),
        AnalysisRun.objects.create(name="cohort_summary", trigger="command", parameters={"center": "TKY01"}),
    ]


def test_the_admin_lists_only_the_runs_the_user_may_read(
    model_admin, runs, admin_user, center_investigator, coordinator
):
    assert set(model_admin.get_queryset(_request(admin_user))) == set(runs)
    assert list(model_admin.get_queryset(_request(center_investigator))) == [runs[1]]
    assert not model_admin.get_queryset(_request(coordinator)).exists()


def test_rerun_queues_each_selected_run_with_its_selection(model_admin, runs, admin_user, monkeypatch):
    queued = []
    monkeypatch.setattr("analysis.runs.request_run", lambda name, **kw: queued.append((name, kw["parameters"])))
    model_admin.rerun(_request(admin_user), AnalysisRun.objects.filter(pk__in=[r.pk for r in runs]))
    assert sorted(queued, key=lambda q: len(q[1])) == [("cohort_summary", {}), ("cohort_summary", {"center": "TKY01"})]


def test_rerun_is_refused_to_those_who_may_not_recompute(model_admin, runs, data_manager, monkeypatch):
    queued = []
    monkeypatch.setattr("analysis.runs.request_run", lambda name, **kw: queued.append(name))
    request = _request(data_manager)
    model_admin.rerun(request, AnalysisRun.objects.all())
    assert queued == [] and "investigators and admins" in str(list(request._messages)[0])
