"""The audit review page and its CSV: who may read them, the filters, the links, the export."""

import csv
import io
import time as clock
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from registry import services
from registry.cuts import services as cuts
from registry.models import Patient
from registry.pages.audit_review import REVIEW_CSV_COLUMNS
from registry.security.models import SecurityEvent
from tests.factories import PatientFactory

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
    return {"admin_user": 200, "data_manager": 200, "anonymous": 302}.get(persona, 403)


@pytest.fixture(autouse=True)
def not_at_the_turn_of_the_hour():
    """Mass edits are counted per clock hour: keep a test's edits inside one."""
    now = timezone.now()
    left = 3600 - (now.minute * 60 + now.second)
    if left < 15:
        clock.sleep(left + 1)


def edit(user, patients, reason="CRF re-read", wbc=200):
    for patient in patients:
        patient = Patient.objects.get(pk=patient.pk)
        patient.wbc = wbc
        services.save_record(user=user, record=patient, source="page", reason=reason)


@pytest.fixture
def mass_edit(center, coordinator):
    """A coordinator changing 21 records within an hour: more than the default N of 20."""
    patients = [PatientFactory(center=center, study_id=f"MLL96-{i + 1:04d}") for i in range(21)]
    edit(coordinator, patients)
    return patients


@pytest.fixture
def two_centers(center, other_center, coordinator, other_coordinator):
    """Three edited patients at each center, the first with a formula for a reason."""
    mine = [PatientFactory(center=center, study_id=f"MLL96-{i + 1:04d}") for i in range(3)]
    theirs = [PatientFactory(center=other_center, study_id=f"OSK-{i + 1:04d}") for i in range(3)]
    edit(coordinator, mine[:1], reason='=HYPERLINK("http://x") lab')
    edit(coordinator, mine[1:])
    edit(other_coordinator, theirs)
    return mine, theirs


def rows(client, **params):
    return client.get(reverse("registry:audit-review"), params).context["page"].object_list


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("url_name", ["registry:audit-review", "registry:audit-review-export"])
def test_the_review_is_for_admins_and_data_managers(login, persona, url_name):
    response = login(persona).get(reverse(url_name))
    assert response.status_code == expected(persona)
    if persona == "anonymous":
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("persona", PERSONAS[:-1])
def test_the_navigation_links_the_review_for_those_who_may(login, center, persona):
    content = login(persona).get(reverse("registry:patient-list")).content.decode()
    assert (reverse("registry:audit-review") in content) == (expected(persona) == 200)


def test_the_audit_trail_links_the_review(login):
    assert reverse("registry:audit-review") in login("admin_user").get(reverse("registry:audit-trail")).content.decode()


@pytest.mark.parametrize("persona", ["admin_user", "data_manager"])
def test_the_page_lists_a_mass_edit_made_by_a_test(login, mass_edit, persona):
    response = login(persona).get(reverse("registry:audit-review"))
    [row] = [r for r in response.context["page"].object_list if r["kind"] == "mass_edit"]
    assert (row["user"], row["records"], row["patients"], row["center"]) == ("coord", 21, 21, "TKY01")
    content = response.content.decode()
    assert "Mass edit" in content and "21 records of 21 patients changed in one hour" in content


def test_a_higher_threshold_hides_it(login, mass_edit):
    assert [r for r in rows(login("data_manager"), threshold=21) if r["kind"] == "mass_edit"] == []


def test_a_data_manager_sees_every_center(login, two_centers):
    listed = rows(login("data_manager"), threshold=2)
    assert sorted((r["user"], r["center"]) for r in listed) == [("coord", "TKY01"), ("coord2", "OSK02")]


def test_filters(login, two_centers, data_manager, coordinator, other_center):
    client = login("admin_user")
    assert [r["user"] for r in rows(client, threshold=2, user=coordinator.pk)] == ["coord"]
    assert [r["center"] for r in rows(client, threshold=2, center=other_center.pk)] == ["OSK02"]
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert rows(client, threshold=2, since=tomorrow) == []
    assert len(rows(client, threshold=2, until=tomorrow)) == 2
    cut = cuts.create_cut(user=data_manager, name="Interim 2026", source="page")
    cuts.release_cut(user=data_manager, cut=cut, reason="DSMB report sent", source="page")
    assert [r["kind"] for r in rows(client, kind="cut_release")] == ["cut_release"]
    before = rows(client, kind="before_cut")
    assert len(before) == 6 and {r["cut"] for r in before} == {"Interim 2026"}
    assert rows(client, kind="before_cut", window_days=0) == []


def test_invalid_filters_show_their_errors_and_filter_nothing(login, mass_edit):
    response = login("admin_user").get(reverse("registry:audit-review"), {"threshold": "-1", "kind": "nonsense"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"threshold", "kind"}
    assert [r["kind"] for r in response.context["page"].object_list] == ["mass_edit"]  # the default N


def test_findings_link_to_the_patient_and_for_admins_to_the_trail(login, center, coordinator, data_manager):
    patient = PatientFactory(center=center, study_id="MLL96-0001")
    services.review_patient(user=data_manager, patient=patient, verify=True, source="page", reason="visit")
    edit(coordinator, [patient], reason="WBC typo")
    admin = login("admin_user")
    [row] = rows(admin, kind="after_verification")
    assert row["patient_url"] == reverse("registry:patient-detail", args=[patient.pk])
    assert row["trail_url"] == reverse("registry:audit-trail") + "?study_id=MLL96-0001&record_type=patient"
    page = admin.get(reverse("registry:audit-review"), {"kind": "after_verification"}).content.decode()
    assert 'href="/audit/?study_id=MLL96-0001&amp;record_type=patient"' in page
    trail = admin.get(row["trail_url"]).context["page"].object_list
    assert [r.reason for r in trail if r.action == "changed"] == ["WBC typo", "visit"]
    [hour] = rows(admin, kind="mass_edit", threshold=0, user=coordinator.pk)
    day = hour["when"].date().isoformat()
    assert hour["trail_url"] == f"{reverse('registry:audit-trail')}?user={coordinator.pk}&since={day}&until={day}"
    response = login("data_manager").get(reverse("registry:audit-review"), {"kind": "after_verification"})
    [row] = response.context["page"].object_list
    assert row["trail_url"] == "" and row["patient_url"]
    content = response.content.decode()
    assert 'href="/audit/"' not in content and 'href="/audit/?' not in content  # not theirs to read


def test_csv_export(login, two_centers, data_manager):
    cuts.create_cut(user=data_manager, name="Interim 2026", source="page")
    response = login("data_manager").get(reverse("registry:audit-review-export"), {"threshold": 2})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="audit-review.csv"' in response["Content-Disposition"]
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert (
        table[0]
        == REVIEW_CSV_COLUMNS
        == [
            "kind",
            "when_utc",
            "until_utc",
            "user",
            "center",
            "study_id",
            "record_type",
            "record_id",
            "action",
            "changes",
            "records",
            "patients",
            "source",
            "reason",
            "cut",
            "detail",
        ]
    )
    by_kind = {}
    for line in table[1:]:
        by_kind.setdefault(line[0], []).append(dict(zip(table[0], line, strict=True)))
    assert sorted((r["user"], r["records"], r["center"]) for r in by_kind["mass_edit"]) == [
        ("coord", "3", "TKY01"),
        ("coord2", "3", "OSK02"),
    ]
    assert all(r["when_utc"].endswith("+00:00") and r["until_utc"].endswith("+00:00") for r in by_kind["mass_edit"])
    before = by_kind["before_cut"]
    assert len(before) == 6 and {r["cut"] for r in before} == {"Interim 2026"}
    [formula] = [r for r in before if "HYPERLINK" in r["reason"]]
    assert formula["reason"] == '\'=HYPERLINK("http://x") lab'  # neutralised
    assert (formula["study_id"], formula["record_type"], formula["action"]) == ("MLL96-0001", "patient", "changed")
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.EXPORT)
    assert event.detail == f"audit-review.csv, {len(table) - 1} rows" and event.user == data_manager


def test_csv_export_follows_the_filters(login, two_centers, other_coordinator):
    response = login("admin_user").get(
        reverse("registry:audit-review-export"), {"threshold": 2, "user": other_coordinator.pk}
    )
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(line[0], line[3]) for line in table[1:]] == [("mass_edit", "coord2")]
