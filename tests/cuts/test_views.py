"""The /cuts/ pages: every role reads the list; data managers create and release; the report at a cut."""

import io

import pytest
from django.core.management import call_command

from analysis.models import AnalysisRun
from registry.cuts import services as cuts
from registry.cuts.models import DataCut
from tests.factories import PatientFactory, relapsed_course, trial

PERSONAS = ["coordinator", "investigator", "center_investigator", "data_manager", "admin_user", "outsider", "anonymous"]


@pytest.fixture
def cohort(center):
    return [relapsed_course(PatientFactory(center=center, trial=trial("MLL98"))) for _ in range(4)]


@pytest.mark.parametrize("persona", PERSONAS)
def test_who_reads_the_list_and_who_may_create(login, persona, cohort):
    client = login(persona)
    page = client.get("/cuts/")
    expected = {"anonymous": 302, "outsider": 403}.get(persona, 200)
    assert page.status_code == expected
    if expected == 200:
        assert ("Freeze the data" in page.content.decode()) == (persona == "data_manager")
    created = client.post("/cuts/", {"name": "MLL98 final", "trial": "MLL98"})
    assert created.status_code == (302 if persona in ("data_manager", "anonymous") else 403)
    assert DataCut.objects.exists() == (persona == "data_manager")


def test_create_on_the_page_then_release_with_a_reason(login, cohort, data_manager):
    client = login("data_manager")
    response = client.post("/cuts/", {"name": "MLL98 final", "trial": "MLL98", "reason": "final analysis"})
    cut = DataCut.objects.get()
    assert response.url == f"/cuts/{cut.pk}/"
    page = client.get(response.url).content.decode()
    assert "Frozen" in page and cut.fingerprint in page and "final analysis" in page
    refused = client.post(f"/cuts/{cut.pk}/release/", {"reason": ""})
    assert refused.status_code == 400 and DataCut.objects.frozen().exists()
    client.post(f"/cuts/{cut.pk}/release/", {"reason": "published"})
    page = client.get(f"/cuts/{cut.pk}/").content.decode()
    assert "Released" in page and "published" in page


def test_a_second_cut_with_the_same_name_is_refused_on_the_form(login, cohort, data_manager):
    cuts.create_cut(user=data_manager, name="MLL98 final", trial="MLL98", source="test")
    response = login("data_manager").post("/cuts/", {"name": "MLL98 final", "trial": "MLL96"})
    assert response.status_code == 200 and "exists already" in response.content.decode()
    assert DataCut.objects.count() == 1


def test_the_report_reads_live_data_or_a_cut_and_names_the_cut(
    login, cohort, data_manager, django_capture_on_commit_callbacks
):
    cut = cuts.create_cut(user=data_manager, name="MLL98 final", trial="MLL98", source="test")
    client = login("investigator")
    with django_capture_on_commit_callbacks(execute=True):
        recompute = client.post("/reports/outcomes/recompute/", {"cut": cut.pk})
    assert recompute.status_code == 302 and f"cut={cut.pk}" in recompute.url
    at_cut = AnalysisRun.objects.filter(data_cut=cut)
    assert at_cut.exists() and not at_cut.exclude(status=AnalysisRun.Status.SUCCEEDED).exists()
    assert not AnalysisRun.objects.filter(data_cut=None).exists()
    page = client.get(f"/reports/outcomes/?cut={cut.pk}").content.decode()
    assert "data cut “MLL98 final”" in page and "Data changed since" not in page
    live = client.get("/reports/outcomes/").content.decode()
    assert "data cut “MLL98 final”" not in live.split('id="report-body"')[1]
    assert client.get("/reports/outcomes/?cut=999999").status_code == 404


def test_the_run_analyses_command_output_names_the_cut(db, cohort, data_manager):
    cuts.create_cut(user=data_manager, name="MLL98 final", trial="MLL98", source="test")
    out = io.StringIO()
    call_command("run_analyses", "--cut", "MLL98 final", "--name", "os_after_second_line", stdout=out)
    assert "At data cut 'MLL98 final'" in out.getvalue()


def test_a_frozen_patient_says_so_and_offers_no_edit(login, cohort, data_manager):
    cuts.create_cut(user=data_manager, name="MLL98 final", trial="MLL98", source="test")
    page = login("coordinator").get(f"/patients/{cohort[0].pk}/").content.decode()
    assert "Frozen by the data cut “MLL98 final”" in page
    assert f"/patients/{cohort[0].pk}/edit/" not in page


def test_the_cut_page_and_the_report_at_the_cut_show_their_signatures(login, cohort, data_manager, investigator):
    from registry.signatures import services as signing
    from tests.factories import PASSWORD

    cut = cuts.create_cut(user=data_manager, name="MLL98 final", trial="MLL98", source="test")
    call_command("run_analyses", "--cut", "MLL98 final", stdout=io.StringIO())
    for kind in ("data_cut", "report"):
        signing.sign(
            user=investigator, kind=kind, obj=cut, meaning="approved", password=PASSWORD, session={}, source="test"
        )
    client = login("investigator")
    page = client.get(f"/cuts/{cut.pk}/").content.decode()
    assert investigator.username in page or investigator.get_full_name() in page
    report = client.get(f"/reports/outcomes/?cut={cut.pk}").content.decode()
    assert "report-signatures" in report
