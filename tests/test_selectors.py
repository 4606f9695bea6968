"""registry.selectors: scoped lists and look-ups, the timeline, and the audit trail filters."""

from datetime import timedelta

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry import selectors, services
from registry.models import CLINICAL_MODELS, FollowUp, Patient, Relapse
from tests.factories import FirstLineResponseFactory, FollowUpFactory, PatientFactory, relapsed_course, trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(center, other_center):
    """TKY01: a relapsed MLL96 patient, a refractory MLL98 one, one without a response yet, one dead in CR1.
    OSK02: one relapsed patient."""
    relapsed = relapsed_course(center=center, study_id="MLL96-0001")
    refractory = PatientFactory(center=center, study_id="MLL98-0002", trial=trial("MLL98"))
    FirstLineResponseFactory(patient=refractory, outcome="INDUCTION_FAILURE")
    pending = PatientFactory(center=center, study_id="MLL98-0003", trial=trial("MLL98"))
    dead = PatientFactory(center=center, study_id="MLL96-0004")
    FirstLineResponseFactory(patient=dead)
    died = dead.diagnosis_date + timedelta(days=90)
    FollowUpFactory(patient=dead, contact_date=died, vital_status="DEAD", death_date=died, cause_of_death="INFECTION")
    elsewhere = relapsed_course(center=other_center, study_id="MLL96-0005")
    return {"relapsed": relapsed, "refractory": refractory, "pending": pending, "dead": dead, "elsewhere": elsewhere}


def study_ids(qs):
    return [p.study_id for p in qs]


def test_patients_for_is_scoped(cohort, coordinator, other_coordinator, investigator, outsider):
    assert study_ids(selectors.patients_for(coordinator)) == ["MLL96-0001", "MLL96-0004", "MLL98-0002", "MLL98-0003"]
    assert study_ids(selectors.patients_for(other_coordinator)) == ["MLL96-0005"]
    assert len(selectors.patients_for(investigator)) == 5
    assert study_ids(selectors.patients_for(outsider)) == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"search": "0003"}, ["MLL98-0003"]),
        ({"search": " mll98 "}, ["MLL98-0002", "MLL98-0003"]),
        ({"trial": "MLL96"}, ["MLL96-0001", "MLL96-0004", "MLL96-0005"]),
        ({"center": "OSK02"}, ["MLL96-0005"]),
        ({"status": "pending"}, ["MLL98-0003"]),
        ({"status": "cr1"}, ["MLL96-0004"]),
        ({"status": "relapsed"}, ["MLL96-0001", "MLL96-0005"]),
        ({"status": "refractory"}, ["MLL98-0002"]),
        ({"status": "dead"}, ["MLL96-0004"]),
        ({"trial": "MLL96", "center": "TKY01", "status": "relapsed"}, ["MLL96-0001"]),
    ],
)
def test_patients_for_filters(cohort, data_manager, filters, expected):
    assert study_ids(selectors.patients_for(data_manager, **filters)) == expected


def test_patient_for_hides_other_centers(cohort, coordinator, center_investigator, investigator):
    assert selectors.patient_for(coordinator, cohort["relapsed"].pk) == cohort["relapsed"]
    assert selectors.patient_for(investigator, cohort["elsewhere"].pk) == cohort["elsewhere"]
    for user in (coordinator, center_investigator):
        with pytest.raises(Http404):
            selectors.patient_for(user, cohort["elsewhere"].pk)
    with pytest.raises(Http404):
        selectors.patient_for(coordinator, "not-a-number")


def test_record_for_hides_other_centers_events(cohort, coordinator):
    theirs = Relapse.objects.get(patient=cohort["elsewhere"])
    ours = Relapse.objects.get(patient=cohort["relapsed"])
    assert selectors.record_for(coordinator, Relapse, ours.pk) == ours
    with pytest.raises(Http404):
        selectors.record_for(coordinator, Relapse, theirs.pk)


def test_timeline_is_in_date_order(cohort):
    entries = selectors.timeline(cohort["relapsed"])
    assert [e.kind for e in entries] == [
        "birth",
        "diagnosis",
        "first_line",
        "relapse",
        "salvage",
        "transplant",
        "follow_up",
    ]
    days = [e.day for e in entries]
    assert days == sorted(days)
    assert entries[1].detail.startswith("120 days old")


def test_timeline_puts_death_last(cohort):
    kinds = [e.kind for e in selectors.timeline(cohort["dead"])]
    assert kinds == ["birth", "diagnosis", "first_line", "death"]


# --- Audit trail ------------------------------------------------------------------------------


@pytest.fixture
def edits(cohort, coordinator, other_coordinator):
    """One change by each coordinator, on top of the system's creations."""
    ours = Patient.objects.get(study_id="MLL96-0001")
    ours.wbc = 200
    services.save_record(user=coordinator, record=ours, source="page", reason="typo")
    follow_up = FollowUp.objects.get(patient__study_id="MLL96-0005")
    follow_up.lost_to_follow_up = True
    services.save_record(user=other_coordinator, record=follow_up, source="page", reason="family moved abroad")
    return cohort


def test_audit_trail_is_newest_first(edits):
    trail = selectors.audit_trail()
    assert len(trail) == 20  # 18 creations and 2 changes
    assert [(r.study_id, r.action) for r in trail[:2]] == [("MLL96-0005", "changed"), ("MLL96-0001", "changed")]
    assert all(a.when >= b.when for a, b in zip(trail, trail[1:], strict=False))


def test_audit_trail_filters(edits, coordinator, other_center):
    by_user = selectors.audit_trail(user_id=coordinator.pk)
    assert [(r.user, r.reason, r.changes) for r in by_user] == [
        ("coord", "typo", [("WBC at diagnosis (x10^9/L)", "150.0", "200.0")])
    ]
    assert {r.study_id for r in selectors.audit_trail(center_id=other_center.pk)} == {"MLL96-0005"}
    assert len(selectors.audit_trail(study_id=" mll96-0005 ")) == 7
    follow_ups = selectors.audit_trail(record_type="followup")
    assert {r.record_type for r in follow_ups} == {"follow up"} and len(follow_ups) == 4
    today = timezone.now().date()  # the trail filters by UTC date
    assert len(selectors.audit_trail(since=today, until=today)) == 20
    assert selectors.audit_trail(until=today - timedelta(days=1)) == []
    assert selectors.audit_trail(since=today + timedelta(days=1)) == []
    assert len(selectors.audit_trail(limit=5)) == 5


def test_history_shows_labels_not_codes(center):
    patient = PatientFactory(center=center, sex="F", mll_partner="AF4")
    created = selectors.patient_history(patient)[-1]
    assert ("center", "", "TKY01 Tokyo Children's Hospital") in created.changes
    assert ("sex", "", "Female") in created.changes
    assert ("MLL partner gene", "", "AF4/AFF1 t(4;11)(q21;q23)") in created.changes


def test_patient_list_knows_the_last_contact(center, coordinator):
    patient = relapsed_course(center=center)
    listed = selectors.patients_for(coordinator).get(pk=patient.pk)
    assert listed.last_contact_date == patient.follow_ups.get().contact_date
    assert not listed.is_dead
    later = patient.follow_ups.get().contact_date + timedelta(days=200)
    FollowUpFactory(patient=patient, contact_date=later)
    FollowUpFactory(patient=patient, contact_date=later - timedelta(days=100))
    assert selectors.patients_for(coordinator).get(pk=patient.pk).last_contact_date == later
    assert selectors.patients_for(coordinator).get(pk=PatientFactory(center=center).pk).last_contact_date is None


def test_the_patient_list_is_not_grouped_so_a_page_reads_its_own_rows(center, coordinator):
    """The flags and the last contact are per row: the database pages the center's patients by study
    ID and computes them for that page only, and counts the pages without them (a grouped query
    would join every follow-up of the center first: 120 ms of a 14,300-patient center's list)."""
    queryset = selectors.patients_for(coordinator)
    assert "GROUP BY" not in str(queryset.query)
    with CaptureQueriesContext(connection) as counted:
        queryset.count()
    assert "registry_followup" not in counted.captured_queries[0]["sql"]


def test_audit_trail_reads_previous_values_in_a_constant_number_of_queries(
    edits, coordinator, django_assert_max_num_queries
):
    for wbc in (210, 220, 230):
        patient = Patient.objects.get(study_id="MLL96-0001")
        patient.wbc = wbc
        services.save_record(user=coordinator, record=patient, source="page", reason="typo")
    # a query per clinical table, three for names (centers, trials, patients), one for the previous rows
    with django_assert_max_num_queries(len(CLINICAL_MODELS) + 3 + 1):
        trail = selectors.audit_trail(study_id="MLL96-0001")
    changes = [r.changes for r in trail if r.action == "changed"]
    assert changes[:3] == [
        [("WBC at diagnosis (x10^9/L)", "220.0", "230.0")],
        [("WBC at diagnosis (x10^9/L)", "210.0", "220.0")],
        [("WBC at diagnosis (x10^9/L)", "200.0", "210.0")],
    ]
