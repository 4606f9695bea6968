"""The audit review's selectors: mass edits, edits after verification and source verification,
edits around data cuts, cut releases; the filters."""

import time as clock
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from registry import services
from registry.audit import audit_context
from registry.audit_review import Filters, Kind, review
from registry.cuts import services as cuts
from registry.models import Patient, Relapse
from registry.queries import services as queries
from tests.factories import FirstLineResponseFactory, PatientFactory, relapsed_course, trial


@pytest.fixture(autouse=True)
def not_at_the_turn_of_the_hour():
    """Mass edits are counted per clock hour: keep a test's edits inside one."""
    now = timezone.now()
    left = 3600 - (now.minute * 60 + now.second)
    if left < 15:
        clock.sleep(left + 1)


def patients(center, n, prefix="MLL96"):
    return [PatientFactory(center=center, study_id=f"{prefix}-{i + 1:04d}") for i in range(n)]


def edit_patients(user, records, wbc=200, reason="CRF re-read"):
    for patient in records:
        patient.refresh_from_db()
        patient.wbc = wbc
        services.save_record(user=user, record=patient, source="page", reason=reason)


def edit_relapse(user, patient, site="CNS", reason="CRF re-read"):
    relapse = Relapse.objects.get(patient=patient)
    relapse.site = site
    return services.save_record(user=user, record=relapse, source="page", reason=reason)


def found(user, kind, **filters):
    return [row for row in review(user, Filters(kind=kind, **filters)).rows if row["kind"] == kind]


# --- mass edits ----------------------------------------------------------------------------------


def test_a_mass_edit_through_the_pages_is_listed(admin_user, coordinator, center):
    edited = patients(center, 6)
    edit_patients(coordinator, edited)
    [row] = found(admin_user, Kind.MASS_EDIT, threshold=5)
    assert (row["user"], row["records"], row["patients"], row["changes"]) == ("coord", 6, 6, 6)
    assert (row["center"], row["source"]) == ("TKY01", "page")
    assert row["until"] - row["when"] == timedelta(hours=1) and row["when"].minute == 0
    assert row["when"] <= Patient.history.filter(history_user=coordinator).earliest("history_date").history_date


def test_a_mass_edit_of_a_bulk_import_is_listed_at_the_default_threshold(admin_user, coordinator, center):
    stored = patients(center, 21)
    courses = services.load_courses([p.pk for p in stored], lock=True)
    writes = []
    for course in courses.values():
        course.patient.wbc = 175
        writes.append(services.CourseWrite(course, [course.patient]))
    services.save_courses(user=coordinator, writes=writes, source="import:corrections.csv", reason="lab re-read")
    [row] = found(admin_user, Kind.MASS_EDIT)  # more than 20 records
    assert (row["user"], row["records"], row["source"]) == ("coord", 21, "import:corrections.csv")


def test_at_or_below_the_threshold_nothing_is_listed(admin_user, coordinator, center):
    edited = patients(center, 5)
    edit_patients(coordinator, edited)
    assert found(admin_user, Kind.MASS_EDIT, threshold=5) == []
    assert len(found(admin_user, Kind.MASS_EDIT, threshold=4)) == 1


def test_a_record_changed_many_times_counts_once(admin_user, coordinator, center):
    [patient] = patients(center, 1)
    for wbc in range(201, 211):
        edit_patients(coordinator, [patient], wbc=wbc)
    assert found(admin_user, Kind.MASS_EDIT, threshold=1) == []
    relapsed_course(patient)
    edit_relapse(coordinator, patient)  # a second record, of another table
    [row] = found(admin_user, Kind.MASS_EDIT, threshold=1)
    assert (row["records"], row["patients"], row["changes"]) == (2, 1, 11)


def test_new_records_are_data_entry_not_edits(admin_user, coordinator, center):
    for _ in range(6):
        services.save_record(user=coordinator, record=PatientFactory.build(center=center), source="page")
    assert Patient.history.filter(history_user=coordinator).count() == 6
    assert found(admin_user, Kind.MASS_EDIT, threshold=5) == []


def test_mass_edits_are_counted_per_user(admin_user, coordinator, other_coordinator, center, other_center):
    edit_patients(coordinator, patients(center, 3))
    edit_patients(other_coordinator, patients(other_center, 3, prefix="MLL98"))
    assert found(admin_user, Kind.MASS_EDIT, threshold=5) == []
    assert [r["user"] for r in found(admin_user, Kind.MASS_EDIT, threshold=2)] == ["coord", "coord2"]


# --- edits after verification ------------------------------------------------------------------


def verify(data_manager, patient, **action):
    patient.refresh_from_db()
    return services.review_patient(
        user=data_manager, patient=patient, source="page", reason="monitoring visit", **(action or {"verify": True})
    )


def test_edits_after_verification_are_listed_not_the_review_itself(admin_user, data_manager, coordinator, center):
    patient = relapsed_course(center=center, study_id="MLL96-0001")
    untouched = relapsed_course(center=center, study_id="MLL96-0002")
    edit_relapse(coordinator, patient, site="TESTIS", reason="before the visit")
    verify(data_manager, patient)
    verify(data_manager, untouched)
    verify(data_manager, patient, lock=True)
    verify(data_manager, patient, lock=False)
    assert found(admin_user, Kind.AFTER_VERIFICATION) == []  # verifying, locking, unlocking are no edits
    edit_relapse(coordinator, patient, reason="CSF cytology")
    edit_patients(coordinator, [patient], reason="WBC typo")
    rows = found(admin_user, Kind.AFTER_VERIFICATION)
    assert [(r["record_type"], r["action"], r["reason"]) for r in rows] == [
        ("patient", "changed", "WBC typo"),
        ("relapse", "changed", "CSF cytology"),
    ]
    assert {r["study_id"] for r in rows} == {"MLL96-0001"} and rows[0]["user"] == "coord"
    assert "verified on" in rows[0]["detail"]


def test_a_new_event_after_verification_is_listed_and_reverification_clears(
    admin_user, data_manager, coordinator, center
):
    patient = PatientFactory(center=center, study_id="MLL96-0001")
    FirstLineResponseFactory(patient=patient)
    verify(data_manager, patient)
    services.save_record(
        user=coordinator,
        record=Relapse(patient=patient, relapse_date=patient.diagnosis_date + timedelta(days=200), site="BM"),
        source="page",
    )
    [row] = found(admin_user, Kind.AFTER_VERIFICATION)
    assert (row["record_type"], row["action"]) == ("relapse", "created")
    verify(data_manager, patient)  # verified again: the review counts from the last verification
    assert found(admin_user, Kind.AFTER_VERIFICATION) == []


def test_a_change_after_source_verification_names_the_field(admin_user, data_manager, coordinator, center):
    patient = relapsed_course(center=center, study_id="MLL96-0001")
    relapse = Relapse.objects.get(patient=patient)
    queries.verify_fields(
        user=data_manager, record_type="relapse", record_id=relapse.pk, fields=["site", "relapse_date"], source="page"
    )
    edit_relapse(coordinator, patient, site="BM")  # saved again, same value: still as verified
    assert found(admin_user, Kind.AFTER_SOURCE_VERIFICATION) == []
    edit_relapse(coordinator, patient, site="CNS", reason='=HYPERLINK("x")')
    edit_relapse(coordinator, patient, site="TESTIS")
    [row] = found(admin_user, Kind.AFTER_SOURCE_VERIFICATION)  # the first change, of the site only
    assert (row["record_type"], row["record_id"], row["reason"]) == ("relapse", relapse.pk, '=HYPERLINK("x")')
    assert "“BM”" in row["detail"] and "“CNS”" in row["detail"] and "site" in row["detail"].lower()


def test_deleting_a_source_verified_record_is_listed(admin_user, data_manager, center):
    patient = relapsed_course(center=center, study_id="MLL96-0001")
    relapse = Relapse.objects.get(patient=patient)
    queries.verify_fields(
        user=data_manager, record_type="relapse", record_id=relapse.pk, fields=["site"], source="page"
    )
    services.delete_record(user=data_manager, record=relapse, reason="entered twice", source="page")
    [row] = found(admin_user, Kind.AFTER_SOURCE_VERIFICATION)
    assert (row["action"], row["reason"], row["user"]) == ("deleted", "entered twice", "datamanager")
    assert "record deleted" in row["detail"]


# --- data cuts -----------------------------------------------------------------------------------


@pytest.fixture
def courses(center):
    return {
        code: relapsed_course(PatientFactory(center=center, study_id=f"{code}-0001", trial=trial(code)))
        for code in ("MLL96", "MLL98")
    }


def test_a_change_after_a_released_cut_and_the_release_are_listed(admin_user, data_manager, coordinator, courses):
    edit_relapse(coordinator, courses["MLL98"], site="TESTIS", reason="last cleaning")
    cut = cuts.create_cut(user=data_manager, name="MLL98 final", trial="MLL98", reason="final analysis", source="page")
    cuts.release_cut(user=data_manager, cut=cut, reason="late CRF from TKY01", source="page")
    edit_relapse(coordinator, courses["MLL98"], reason="late CRF")
    edit_relapse(coordinator, courses["MLL96"], reason="not in the cut's scope")
    PatientFactory(center=courses["MLL98"].center, study_id="MLL98-0002", trial=trial("MLL98"))  # after the cut

    [after] = found(admin_user, Kind.AFTER_CUT)
    assert (after["study_id"], after["reason"], after["cut"]) == ("MLL98-0001", "late CRF", "MLL98 final")
    assert "released" in after["detail"]
    [before] = found(admin_user, Kind.BEFORE_CUT)
    assert (before["reason"], before["cut"]) == ("last cleaning", "MLL98 final")
    assert found(admin_user, Kind.BEFORE_CUT, window_days=0) == []
    [release] = found(admin_user, Kind.CUT_RELEASE)
    assert (release["user"], release["reason"], release["cut"], release["source"]) == (
        "datamanager",
        "late CRF from TKY01",
        "MLL98 final",
        "page",
    )


def test_a_study_wide_cut_covers_every_trial(admin_user, data_manager, coordinator, courses):
    cut = cuts.create_cut(user=data_manager, name="Interim", source="command:create_data_cut")
    cuts.release_cut(user=data_manager, cut=cut, reason="DSMB report sent", source="page")
    edit_relapse(coordinator, courses["MLL96"])
    edit_relapse(coordinator, courses["MLL98"])
    assert {r["study_id"] for r in found(admin_user, Kind.AFTER_CUT)} == {"MLL96-0001", "MLL98-0001"}


def test_a_raw_write_after_the_release_is_listed_with_the_database_role(
    postgres_only, admin_user, data_manager, courses
):
    cut = cuts.create_cut(user=data_manager, name="Final", trial="MLL98", source="page")
    cuts.release_cut(user=data_manager, cut=cut, reason="late CRF", source="page")
    with connection.cursor() as cursor:  # below the services: only the capture trigger sees it
        cursor.execute("UPDATE registry_relapse SET site = 'CNS' WHERE patient_id = %s", [courses["MLL98"].pk])
    [row] = found(admin_user, Kind.AFTER_CUT)
    assert (row["user"], row["record_type"]) == ("system", "relapse") and row["source"].startswith("db:")


def test_a_write_around_the_services_while_a_cut_is_in_force(admin_user, data_manager, courses):
    cuts.create_cut(user=data_manager, name="Frozen", trial="MLL98", source="page")
    relapses = Relapse.objects.filter(patient=courses["MLL98"])
    if connection.vendor == "postgresql":  # the database refuses it: nothing to list
        with pytest.raises(IntegrityError), transaction.atomic():
            with audit_context(reason="shell fix", source="command:shell"):
                relapses.update(site="CNS")
        assert found(admin_user, Kind.AFTER_CUT) == []
        return
    with audit_context(reason="shell fix", source="command:shell"):  # SQLite: only the services check
        relapses.update(site="CNS")
    [row] = found(admin_user, Kind.AFTER_CUT)
    assert (row["reason"], row["source"]) == ("shell fix", "command:shell") and "in force" in row["detail"]


# --- filters and scope ---------------------------------------------------------------------------


def test_filters_by_user_center_and_dates(
    admin_user, data_manager, coordinator, other_coordinator, courses, other_center
):
    edit_patients(coordinator, list(courses.values()))
    edit_patients(other_coordinator, patients(other_center, 2, prefix="OSK"))
    cut = cuts.create_cut(user=data_manager, name="Interim", source="page")
    cuts.release_cut(user=data_manager, cut=cut, reason="DSMB report sent", source="page")

    def kinds(**filters):
        return sorted((r["kind"], r["user"]) for r in review(admin_user, Filters(threshold=1, **filters)).rows)

    assert kinds() == [
        ("before_cut", "coord"),
        ("before_cut", "coord"),
        ("before_cut", "coord2"),
        ("before_cut", "coord2"),
        ("cut_release", "datamanager"),
        ("mass_edit", "coord"),
        ("mass_edit", "coord2"),
    ]
    assert kinds(user_id=other_coordinator.pk) == [("before_cut", "coord2")] * 2 + [("mass_edit", "coord2")]
    by_center = kinds(center_id=other_center.pk)  # a release spans centers and stays
    assert by_center == [("before_cut", "coord2")] * 2 + [("cut_release", "datamanager"), ("mass_edit", "coord2")]
    tomorrow = (timezone.now() + timedelta(days=1)).date()
    assert kinds(since=tomorrow) == []
    assert len(kinds(until=tomorrow)) == 7
    assert kinds(kind=Kind.CUT_RELEASE) == [("cut_release", "datamanager")]


def test_each_kind_is_cut_at_the_limit(admin_user, coordinator, other_coordinator, center, other_center):
    edit_patients(coordinator, patients(center, 2))
    edit_patients(other_coordinator, patients(other_center, 2, prefix="OSK"))
    result = review(admin_user, Filters(kind=Kind.MASS_EDIT, threshold=1), limit=1)
    assert result.counts == {Kind.MASS_EDIT: 1} and result.truncated == [Kind.MASS_EDIT]
    assert review(admin_user, Filters(kind=Kind.MASS_EDIT, threshold=1), limit=2).truncated == []


def test_a_user_reads_only_their_centers(coordinator, other_coordinator, center, other_center):
    edit_patients(coordinator, patients(center, 2))
    edit_patients(other_coordinator, patients(other_center, 2, prefix="MLL98"))
    assert [r["user"] for r in review(coordinator, Filters(threshold=1)).rows] == ["coord"]
