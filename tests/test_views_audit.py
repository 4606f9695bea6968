"""The admins' audit trail page and its CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from registry import services
from registry.transfer.spreadsheet import csv_cell
from tests.factories import FirstLineResponseFactory, PatientFactory, RelapseFactory, relapsed_course

PERSONAS = [
    "coordinator",
    "investigator",
    "center_investigator",
    "data_manager",
    "admin_user",
    "outsider",
    "anonymous",
]


def expected(persona):
    return {"admin_user": 200, "anonymous": 302}.get(persona, 403)


@pytest.fixture
def changed_course(center, coordinator):
    """A course whose relapse a coordinator corrected from the pages."""
    patient = relapsed_course(center=center, study_id="MLL96-0001")
    relapse = patient.relapses.get()
    relapse.site = "CNS"
    services.save_record(user=coordinator, record=relapse, source="page", reason='=HYPERLINK("x") CRF re-read')
    return patient


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("url_name", ["registry:audit-trail", "registry:audit-export"])
def test_audit_is_for_admins_only(login, changed_course, persona, url_name):
    response = login(persona).get(reverse(url_name))
    assert response.status_code == expected(persona)


def test_nav_link_only_for_admins(login, changed_course):
    assert b"Audit trail" in login("admin_user").get(reverse("registry:patient-list")).content
    assert b"Audit trail" not in login("data_manager").get(reverse("registry:patient-list")).content


def test_audit_page_lists_changes_with_old_and_new(login, changed_course):
    response = login("admin_user").get(reverse("registry:audit-trail"))
    content = response.content.decode()
    newest = response.context["page"][0]
    assert newest.action == "changed" and newest.user == "coord" and newest.center == "TKY01"
    assert ("site", "Isolated bone marrow", "Isolated CNS") in newest.changes
    assert (
        "CRF re-read" in content
        and "<del>Isolated bone marrow</del>" in content
        and "<ins>Isolated CNS</ins>" in content
    )


def test_audit_filters(login, changed_course, other_center, coordinator):
    PatientFactory(center=other_center, study_id="MLL98-0002")
    client = login("admin_user")
    url = reverse("registry:audit-trail")

    def rows(**params):
        return client.get(url, params).context["page"].object_list

    assert {r.study_id for r in rows(center=other_center.pk)} == {"MLL98-0002"}
    assert {r.study_id for r in rows(study_id="mll96-0001")} == {"MLL96-0001"}
    assert [r.action for r in rows(user=coordinator.pk)] == ["changed"]
    assert {r.record_type for r in rows(record_type="relapse")} == {"relapse"}
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert rows(since=tomorrow) == []
    assert len(rows(until=tomorrow)) == 8  # 6 + 1 created, 1 changed


def test_audit_paginates(login, center):
    for n in range(101):
        PatientFactory(center=center, study_id=f"MLL96-{n + 1:04d}")
    client = login("admin_user")
    assert len(client.get(reverse("registry:audit-trail")).context["page"].object_list) == 100
    assert len(client.get(reverse("registry:audit-trail"), {"page": 2}).context["page"].object_list) == 1


def test_csv_export(login, changed_course, other_center):
    PatientFactory(center=other_center, study_id="MLL98-0002")
    response = login("admin_user").get(reverse("registry:audit-export"), {"study_id": "MLL96-0001"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "timestamp_utc",
        "user",
        "action",
        "record_type",
        "record_id",
        "study_id",
        "center",
        "source",
        "reason",
        "changes",
    ]
    assert len(rows) == 1 + 7  # header, 6 created and 1 changed: the filtered rows only
    changed = rows[1]
    assert changed[0].endswith("+00:00")
    assert changed[1:4] == ["coord", "changed", "relapse"]
    assert changed[5:8] == ["MLL96-0001", "TKY01", "page"]
    assert changed[8] == '\'=HYPERLINK("x") CRF re-read'  # formula neutralised
    assert changed[9] == "site: Isolated bone marrow -> Isolated CNS"
    assert rows[-1][2] == "created" and rows[-1][1] == "system" and rows[-1][7] == "test:factory"


@pytest.mark.parametrize(
    "value,safe",
    [("=1+1", "'=1+1"), ("+44", "'+44"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("ok", "ok"), (None, ""), (7, "7")],
)
def test_csv_cell(value, safe):
    assert csv_cell(value) == safe


def test_history_shows_on_patient_page_newest_first(login, center, coordinator):
    patient = PatientFactory(center=center)
    FirstLineResponseFactory(patient=patient)
    relapse = RelapseFactory(patient=patient)
    relapse.site = "TESTIS"
    services.save_record(user=coordinator, record=relapse, source="page", reason="Testicular on biopsy")
    history = login("coordinator").get(reverse("registry:patient-detail", args=[relapse.patient.pk])).context["history"]
    assert history[0].reason == "Testicular on biopsy" and history[0].source == "page"
