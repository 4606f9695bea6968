"""Issue 12's second "Done when": `run_analyses --cut NAME` gives identical fingerprints and results
before and after the cut is released and the live data are edited; a run at a cut read the state
the live runs read at the moment of the cut."""

import io

import pytest
from django.core.management import call_command

from analysis import runs
from analysis.models import AnalysisRun
from registry import services
from registry.audit import audit_context
from registry.models import FollowUp, Relapse

NAME = "Study interim 2026-11-30"


def run_all(*args):
    out = io.StringIO()
    call_command("run_analyses", *args, stdout=out)
    return out.getvalue()


def stored(cut=None):
    """{analysis: (fingerprint, results)} of the newest successful runs (live, or at ``cut``)."""
    return {name: (run.fingerprint, run.results) for name, run in runs.latest_runs(cut=cut).items()}


@pytest.fixture
def demo(db):
    call_command("seed_demo", patients=40, seed=3, stdout=io.StringIO())


def test_runs_at_a_cut_never_move(demo, data_manager):
    run_all()
    live_at_cut = stored()
    call_command("create_data_cut", NAME, stdout=io.StringIO())
    cut = AnalysisRun._meta.get_field("data_cut").related_model.objects.get(name=NAME)

    assert f"At data cut {NAME!r}" in run_all("--cut", NAME)
    first = stored(cut)
    assert all(first[name][0] == live_at_cut[name][0] for name in first)  # the state of the moment of the cut
    assert first == live_at_cut

    call_command("release_data_cut", NAME, "--reason", "interim report sent", stdout=io.StringIO())
    relapse = Relapse.objects.order_by("pk").first()
    relapse.site = "CNS" if relapse.site != "CNS" else "BM"
    services.save_record(user=None, record=relapse, source="test", reason="correction after the cut")
    follow_up = FollowUp.objects.order_by("-contact_date").first()
    with audit_context(reason="death reported late", source="test"):  # even a write past the services
        FollowUp.objects.filter(pk=follow_up.pk).update(
            vital_status="DEAD", death_date=follow_up.contact_date, cause_of_death="RELAPSE"
        )

    run_all()
    assert stored() != live_at_cut  # the live data moved on
    run_all("--cut", NAME)
    again = stored(cut)
    assert again == first
    at_cut = AnalysisRun.objects.filter(data_cut=cut, status=AnalysisRun.Status.SUCCEEDED)
    assert at_cut.count() == 2 * len(runs.ANALYSES)
    assert set(at_cut.values_list("data_revision", flat=True)) == {cut.data_revision}


def test_an_unknown_cut_is_refused_with_the_known_ones(demo):
    from django.core.management.base import CommandError

    call_command("create_data_cut", NAME, stdout=io.StringIO())
    with pytest.raises(CommandError, match=f"known: {NAME}"):
        run_all("--cut", "no such cut")
