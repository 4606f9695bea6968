"""Data cuts: creating one freezes its scope on every write path; release with a reason; the copy."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from registry import services
from registry.audit import ReasonRequired
from registry.course import read_tables
from registry.cuts import services as cuts
from registry.cuts import snapshot
from registry.cuts.models import DataCut
from registry.models import Patient
from tests.factories import PatientFactory, relapsed_course, trial


@pytest.fixture
def courses(center):
    return {
        "MLL96": relapsed_course(PatientFactory(center=center, study_id="MLL96-0001", trial=trial("MLL96"))),
        "MLL98": relapsed_course(PatientFactory(center=center, study_id="MLL98-0001", trial=trial("MLL98"))),
    }


def edit_relapse(user, patient, site="CNS"):
    relapse = patient.relapses.get()
    relapse.site = site
    return services.save_record(user=user, record=relapse, source="test", reason="CRF re-read")


def test_a_cut_freezes_its_trial_and_names_itself(data_manager, coordinator, courses):
    cut = cuts.create_cut(user=data_manager, name="MLL98 final analysis", trial="MLL98", source="test")
    with pytest.raises(cuts.FrozenByCut, match="MLL98 final analysis"):
        edit_relapse(coordinator, courses["MLL98"])
    assert courses["MLL98"].relapses.get().site == "BM"
    edit_relapse(coordinator, courses["MLL96"])  # the other trial is not frozen
    assert cut.n_patients == 1 and cut.trial.code == "MLL98"


def test_a_study_wide_cut_refuses_creates_deletes_reviews_and_system_writes(data_manager, coordinator, courses, center):
    cuts.create_cut(user=data_manager, name="Interim 2026", source="test")
    with pytest.raises(cuts.FrozenByCut):
        services.save_record(user=coordinator, record=PatientFactory.build(center=center), source="test")
    with pytest.raises(cuts.FrozenByCut):
        services.delete_record(user=data_manager, record=courses["MLL96"].relapses.get(), reason="x", source="test")
    with pytest.raises(cuts.FrozenByCut):
        services.review_patient(user=data_manager, patient=courses["MLL96"], verify=True, reason="x", source="test")
    with pytest.raises(cuts.FrozenByCut):
        edit_relapse(None, courses["MLL96"])  # the system too (commands, tasks)
    assert Patient.objects.count() == 2


def test_bulk_writes_report_the_cut_for_every_frozen_record(data_manager, coordinator, courses):
    cuts.create_cut(user=data_manager, name="MLL96 cut", trial="MLL96", source="test")
    loaded = services.load_courses([courses["MLL96"].pk, courses["MLL98"].pk])
    writes = []
    for course in loaded.values():
        relapse = course.relapses[0]
        relapse.site = "CNS"
        writes.append(services.CourseWrite(course=course, changed=[relapse]))
    problems = services.check_courses(user=coordinator, writes=writes, reason="x")
    assert [(p.record.patient.study_id, p.kind) for p in problems] == [("MLL96-0001", "permission")]
    assert "MLL96 cut" in problems[0].message


def test_release_needs_a_reason_and_unfreezes(data_manager, coordinator, courses):
    cut = cuts.create_cut(user=data_manager, name="Interim", source="test", reason="DSMB interim")
    with pytest.raises(ReasonRequired):
        cuts.release_cut(user=data_manager, cut=cut, reason=" ", source="test")
    cuts.release_cut(user=data_manager, cut=cut, reason="DSMB report sent", source="test")
    edit_relapse(coordinator, courses["MLL98"])
    cut.refresh_from_db()
    assert not cut.frozen and cut.released_by == data_manager
    reasons = list(cut.history.order_by("history_date").values_list("history_change_reason", "history_user"))
    assert reasons == [("DSMB interim", data_manager.pk), ("DSMB report sent", data_manager.pk)]
    with pytest.raises(ValidationError, match="released already"):
        cuts.release_cut(user=data_manager, cut=cut, reason="again", source="test")


def test_only_data_managers_create_or_release(coordinator, investigator, admin_user, data_manager, courses):
    for user in (coordinator, investigator, admin_user):
        with pytest.raises(PermissionDenied):
            cuts.create_cut(user=user, name="x", source="test")
    cut = cuts.create_cut(user=data_manager, name="x", source="test")
    with pytest.raises(PermissionDenied):
        cuts.release_cut(user=investigator, cut=cut, reason="y", source="test")


def test_names_are_unique_and_scopes_do_not_overlap(data_manager, courses):
    cuts.create_cut(user=data_manager, name="MLL98 final", trial="MLL98", source="test")
    with pytest.raises(ValidationError, match="exists already"):
        cuts.create_cut(user=data_manager, name="MLL98 final", trial="MLL96", source="test")
    with pytest.raises(ValidationError, match="already freezes"):
        cuts.create_cut(user=data_manager, name="Study", source="test")
    with pytest.raises(ValidationError, match="Unknown trial"):
        cuts.create_cut(user=data_manager, name="Other", trial="MLL2000", source="test")
    cuts.create_cut(user=data_manager, name="MLL96 final", trial="MLL96", source="test")
    assert DataCut.objects.frozen().count() == 2


def test_the_copy_rebuilds_the_live_tables_exactly(data_manager, courses):
    cut = cuts.create_cut(user=data_manager, name="Copy", source="test")
    live = read_tables(Patient.objects.all())
    copied = snapshot.tables(cut.snapshot)
    assert live.keys() == copied.keys()
    for name in live:
        assert live[name].equals(copied[name]), name
        assert list(live[name].dtypes) == list(copied[name].dtypes), name
    assert snapshot.fingerprint_of(cut.snapshot) == cut.fingerprint
    one_trial = snapshot.tables(cut.snapshot, {"trial": "MLL96"})
    assert one_trial["patients"]["study_id"].tolist() == ["MLL96-0001"]
    assert set(one_trial["relapses"]["patient_id"]) == {courses["MLL96"].pk}
