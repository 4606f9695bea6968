"""Issue 12's first "Done when": after `create_data_cut` a coordinator's page edit, an API edit and
an import of a change are all refused, naming the cut, and nothing changes."""

import io

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry.models import Relapse
from tests.factories import PatientFactory, relapsed_course, trial
from tests.test_imports import course_sheets, run, workbook

NAME = "MLL96 final analysis 2026-12-01"


@pytest.fixture
def frozen(center):
    """An imported MLL96 course, then the data cut freezing MLL96."""
    patient = relapsed_course(PatientFactory(center=center, study_id="MLL96-0001", trial=trial("MLL96")))
    out = io.StringIO()
    call_command("create_data_cut", NAME, "--trial", "MLL96", "--reason", "final analysis", stdout=out)
    assert NAME in out.getvalue() and "1 patients frozen" in out.getvalue()
    return patient


def test_a_page_edit_is_refused_naming_the_cut(client, coordinator, frozen):
    relapse = frozen.relapses.get()
    client.force_login(coordinator)
    response = client.post(
        f"/relapse/{relapse.pk}/edit/",
        {
            "relapse_date": relapse.relapse_date.isoformat(),
            "site": "CNS",
            "reason": "re-read",
            "version": relapse.version,
        },
    )
    assert response.status_code == 200 and NAME in response.content.decode()
    assert Relapse.objects.get(pk=relapse.pk).site == "BM"


def test_an_api_edit_is_refused_naming_the_cut(coordinator, frozen):
    relapse = frozen.relapses.get()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=coordinator).key}")
    response = client.patch(
        f"/api/v1/relapses/{relapse.pk}/",
        {"site": "CNS", "reason": "re-read"},
        format="json",
        HTTP_IF_MATCH=f'W/"{relapse.version}"',
    )
    assert response.status_code == 403 and NAME in response.content.decode()
    assert Relapse.objects.get(pk=relapse.pk).site == "BM"


def test_an_import_of_a_change_is_refused_naming_the_cut(coordinator, center):
    sheets = course_sheets()
    assert run(coordinator, workbook(sheets), commit=True)["committed"]
    call_command("create_data_cut", NAME, "--trial", "MLL96", stdout=io.StringIO())
    sheets["relapses"][1][2] = "CNS"
    report = run(coordinator, workbook(sheets), commit=True, reason="site corrected")
    assert not report["committed"]
    assert report["problems"] and all(NAME in p["message"] for p in report["problems"])
    assert Relapse.objects.get().site == "BM"


def test_after_release_the_same_page_edit_goes_through(client, coordinator, frozen):
    call_command("release_data_cut", NAME, "--reason", "analysis published", stdout=io.StringIO())
    relapse = frozen.relapses.get()
    client.force_login(coordinator)
    response = client.post(
        f"/relapse/{relapse.pk}/edit/",
        {
            "relapse_date": relapse.relapse_date.isoformat(),
            "site": "CNS",
            "reason": "re-read",
            "version": relapse.version,
        },
    )
    assert response.status_code == 302
    assert Relapse.objects.get(pk=relapse.pk).site == "CNS"
