"""Cursor pages of the clinical lists (registry.api.pagination); page numbers for the short lists."""

import base64
import json
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from registry.audit import audit_context
from registry.models import FollowUp, Patient
from tests.factories import FollowUpFactory, PatientFactory

URL = "/api/v1/patients/"


def walk(client, url, params=None, *, link="next"):
    """Every page from ``url`` on, following ``link``: a list of pages, each a list of records."""
    pages = []
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.json()
        body = response.json()
        assert set(body) == {"next", "previous", "results"}  # no count
        pages.append(body["results"])
        if not body[link]:
            return pages
        response = client.get(body[link])


def last_url(client, url, params):
    response = client.get(url, params)
    while response.json()["next"]:
        url = response.json()["next"]
        response = client.get(url)
    return url


@pytest.fixture
def cohort(center, other_center):
    """Eight patients at two centers; diagnosis dates and WBCs shared by several (ties to break)."""
    patients = []
    for i in range(8):
        born = date(1996, 1, 10) + timedelta(days=30 * (i % 3))
        patients.append(
            PatientFactory(
                center=center if i % 2 else other_center,
                study_id=f"MLL96-{(i * 5) % 8 + 1:04d}",
                date_of_birth=born,
                diagnosis_date=born + timedelta(days=120),
                registration_date=born + timedelta(days=122),
                wbc=Decimal("150.0") if i < 4 else Decimal(f"{10 * i}.5"),
            )
        )
    return patients


def in_order(patients, ordering):
    """The patients' IDs as ``?ordering=`` sorts them: by the field, ties by ID (ascending either way)."""
    by_id = sorted(patients, key=lambda p: p.pk)
    field = ordering.lstrip("-") or "study_id"
    return [p.pk for p in sorted(by_id, key=lambda p: getattr(p, field), reverse=ordering.startswith("-"))]


@pytest.mark.parametrize("ordering", ["", "-study_id", "diagnosis_date", "-diagnosis_date", "wbc", "-updated_at"])
def test_next_links_give_every_patient_once_in_order(api, investigator, cohort, ordering):
    pages = walk(api(investigator), URL, {"page_size": 3, **({"ordering": ordering} if ordering else {})})
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [p["id"] for page in pages for p in page] == in_order(cohort, ordering)


@pytest.mark.parametrize("ordering", ["", "-diagnosis_date", "wbc"])
def test_previous_links_go_back_through_the_same_pages(api, investigator, cohort, ordering):
    client = api(investigator)
    params = {"page_size": 3, **({"ordering": ordering} if ordering else {})}
    forward = walk(client, URL, params)
    backward = walk(client, last_url(client, URL, params), link="previous")
    assert backward == forward[::-1]


def test_pages_are_scoped(api, coordinator, center_investigator, cohort):
    own = sorted(p.study_id for p in cohort if p.center.code == "TKY01")
    for user in (coordinator, center_investigator):
        pages = walk(api(user), URL, {"page_size": 3})
        assert [p["study_id"] for page in pages for p in page] == own


def test_a_record_added_meanwhile_neither_repeats_nor_shifts_the_next_page(api, investigator, cohort, center):
    client = api(investigator)
    first = client.get(URL, {"page_size": 3}).json()
    PatientFactory(center=center, study_id="MLL96-0000")  # sorts before every page already read
    second = client.get(first["next"]).json()
    assert [p["study_id"] for p in second["results"]] == ["MLL96-0004", "MLL96-0005", "MLL96-0006"]


def test_event_lists_walk_every_record_once(api, investigator, cohort):
    for patient in cohort[:5]:
        for days in (400, 800):
            FollowUpFactory(patient=patient, contact_date=patient.diagnosis_date + timedelta(days=days))
    pages = walk(api(investigator), "/api/v1/follow-ups/", {"page_size": 3})
    seen = [(f["study_id"], f["contact_date"]) for page in pages for f in page]
    assert len(seen) == FollowUp.objects.count() == 10
    assert seen == sorted(seen)  # by study ID, then date
    dated = walk(api(investigator), "/api/v1/follow-ups/", {"page_size": 4, "ordering": "-contact_date"})
    assert sorted(f["id"] for page in dated for f in page) == sorted(FollowUp.objects.values_list("pk", flat=True))


def test_page_size_is_50_by_default_and_at_most_100(api, investigator, center):
    with audit_context(reason="test", source="test"):
        Patient.objects.bulk_create(
            [PatientFactory.build(center=center, study_id=f"MLL96-{n:04d}") for n in range(1, 102)]
        )
    client = api(investigator)
    assert len(client.get(URL).json()["results"]) == 50
    capped = client.get(URL, {"page_size": 1000}).json()
    assert len(capped["results"]) == 100
    assert [p["study_id"] for p in client.get(capped["next"]).json()["results"]] == ["MLL96-0101"]


def _forged(payload):
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "",
        _forged({"o": ["study_id"], "p": ["MLL96-0004"], "r": 0}),  # well-formed but unsigned
        _forged({"o": ["study_id"], "p": ["MLL96-0004"], "r": 0}) + ":forged-signature",
        "%00\x00",
    ],
)
def test_a_tampered_cursor_is_a_400_with_a_message(api, investigator, cohort, cursor):
    response = api(investigator).get(URL, {"cursor": cursor})
    assert response.status_code == 400
    assert "cursor is not valid" in response.json()["cursor"][0]


def test_a_changed_character_invalidates_a_cursor(api, investigator, cohort):
    client = api(investigator)
    cursor = parse_qs(urlsplit(client.get(URL, {"page_size": 3}).json()["next"]).query)["cursor"][0]
    tampered = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    response = client.get(URL, {"page_size": 3, "cursor": tampered})
    assert response.status_code == 400 and "cursor" in response.json()


def test_a_cursor_of_another_ordering_is_refused(api, investigator, cohort):
    client = api(investigator)
    following = client.get(URL, {"page_size": 3, "ordering": "wbc"}).json()["next"]
    response = client.get(following.replace("ordering=wbc", "ordering=-diagnosis_date"))
    assert response.status_code == 400
    assert "another ordering" in response.json()["cursor"][0]


def test_short_lists_keep_page_numbers_and_a_count(api, investigator, center, other_center):
    body = api(investigator).get("/api/v1/centers/", {"page_size": 1, "page": 2}).json()
    assert body["count"] == 2 and [c["code"] for c in body["results"]] == ["TKY01"]


def test_schema_describes_both_paginations(api, investigator):
    schema = api(investigator).get("/api/schema/", {"format": "json"}).json()
    patients = schema["paths"]["/api/v1/patients/"]["get"]
    assert {"cursor", "page_size", "ordering"} <= {p["name"] for p in patients["parameters"]}
    assert "page" not in {p["name"] for p in patients["parameters"]}
    page = schema["components"]["schemas"]["PaginatedPatientList"]
    assert set(page["properties"]) == {"next", "previous", "results"}
    centers = schema["paths"]["/api/v1/centers/"]["get"]
    assert {"page", "page_size"} <= {p["name"] for p in centers["parameters"]}
    assert "count" in schema["components"]["schemas"]["PaginatedCenterList"]["properties"]
