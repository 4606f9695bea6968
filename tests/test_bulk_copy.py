"""registry.bulk_copy: bulk writes by PostgreSQL COPY leave the same rows and the same trail as the ORM.

The capture triggers fire for COPY and for UPDATE ... FROM as for the ORM's INSERT and UPDATE: one
history row per record with the actor, reason and source of the write; new events point at the
patients inserted in the same write; a failure half-way writes nothing; a data cut in force
refuses the write in the database too.
"""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from registry import bulk_copy, chronology, services
from registry.audit import audit_context
from registry.cuts import services as cuts
from registry.models import DataRevision, FirstLineResponse, Patient, Relapse
from registry.trail import TrailHead, verify
from tests.factories import FirstLineResponseFactory, PatientFactory, RelapseFactory, relapsed_course, trial

# Columns that differ between two writes of the same values: keys, times, the study ID.
VOLATILE = {"history_id", "history_date", "id", "patient_id", "created_at", "updated_at", "study_id", "audit_study_id"}


@pytest.fixture
def copy_path(postgres_only):
    assert bulk_copy.supported()


def built_course(center, study_id):
    patient = PatientFactory.build(center=center, study_id=study_id, wbc=312.5)
    cr1 = FirstLineResponseFactory.build(patient=patient)
    relapse = RelapseFactory.build(patient=patient)
    return patient, [cr1, relapse]


def history(model, pk, field="id"):
    rows = model.history.filter(**{field: pk}).order_by("history_id").values()
    return [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]


def test_inserts_leave_the_same_rows_and_history_as_bulk_create(copy_path, coordinator, center):
    revision = DataRevision.current().revision
    patient, events = built_course(center, "MLL96-0001")
    write = services.CourseWrite(chronology.course_of(patient, events), [patient, *events])
    with audit_context(reason="Imported from file.csv"):
        assert services.save_courses(user=coordinator, writes=[write], source="test:bulk") == 3

    orm_patient, orm_events = built_course(center, "MLL96-0002")
    with transaction.atomic(), audit_context(user=coordinator, reason="Imported from file.csv", source="test:bulk"):
        Patient.objects.bulk_create([orm_patient])
        for event in orm_events:
            event.patient = orm_patient
            type(event).objects.bulk_create([event])

    # The ids link: the events point at the patient inserted in the same write.
    stored = Patient.objects.get(study_id="MLL96-0001")
    assert stored.pk == patient.pk and not patient._state.adding
    assert FirstLineResponse.objects.get(pk=events[0].pk).patient_id == stored.pk
    assert Relapse.objects.get(pk=events[1].pk).patient_id == stored.pk
    assert (stored.version, stored.created_at, stored.updated_at) == (1, patient.created_at, patient.created_at)
    # The same values and the same history rows, actor, reason and source included.
    assert history(Patient, patient.pk) == history(Patient, orm_patient.pk)
    assert history(Relapse, patient.pk, "patient_id") == history(Relapse, orm_patient.pk, "patient_id")
    assert history(FirstLineResponse, patient.pk, "patient_id") == history(
        FirstLineResponse, orm_patient.pk, "patient_id"
    )
    row = Relapse.history.get(id=events[1].pk)
    assert (row.history_type, row.history_user, row.history_change_reason, row.audit_source) == (
        "+",
        coordinator,
        "Imported from file.csv",
        "test:bulk",
    )
    assert (row.audit_center_id, row.audit_study_id) == (center.pk, "MLL96-0001")
    assert DataRevision.current().revision == revision + 2  # once per service call, once per bulk_create block
    assert verify().ok


def test_updates_leave_the_same_rows_and_history_as_bulk_update(copy_path, coordinator, center):
    by_copy, by_orm = (relapsed_course(center=center, study_id=f"MLL96-000{i}", wbc=150) for i in (1, 2))
    course = services.load_courses([by_copy.pk], lock=False)[by_copy.pk]
    course.patient.wbc = 160
    course.relapses[0].site = "CNS"
    write = services.CourseWrite(course, [course.patient, course.relapses[0]])
    with transaction.atomic():
        services.save_courses(user=coordinator, writes=[write], source="test:bulk", reason="source data verification")

    orm_relapse = by_orm.relapses.get()
    by_orm.wbc, orm_relapse.site = 160, "CNS"
    with transaction.atomic(), audit_context(user=coordinator, reason="source data verification", source="test:bulk"):
        Patient.objects.bulk_update([by_orm], services._updatable_fields(Patient))
        Relapse.objects.bulk_update([orm_relapse], services._updatable_fields(Relapse))

    patient = Patient.objects.get(pk=by_copy.pk)
    assert (patient.wbc, patient.version) == (160, 2)
    assert patient.updated_at == course.patient.updated_at > patient.created_at
    assert history(Patient, by_copy.pk) == history(Patient, by_orm.pk)
    assert history(Relapse, by_copy.pk, "patient_id") == history(Relapse, by_orm.pk, "patient_id")
    latest = Relapse.history.filter(patient_id=by_copy.pk).order_by("-history_id").first()
    assert (latest.history_type, latest.history_change_reason, latest.version, latest.site) == (
        "~",
        "source data verification",
        2,
        "CNS",
    )
    assert verify().ok


def test_a_failure_half_way_writes_nothing(copy_path, coordinator, center):
    """The patients and first-line responses go in, then a relapse breaks a database constraint:
    the whole write is rolled back, trail and data revision included."""
    patient, events = built_course(center, "MLL96-0001")
    twin = RelapseFactory.build(patient=patient, relapse_date=events[1].relapse_date)  # not in the checked course
    write = services.CourseWrite(chronology.course_of(patient, events), [patient, *events, twin])
    heads = {h.table_name: (h.seq, h.hash) for h in TrailHead.objects.all()}
    revision = list(DataRevision.objects.values_list("revision", flat=True))
    with pytest.raises(IntegrityError):
        services.save_courses(user=coordinator, writes=[write], source="test:bulk")
    assert twin.pk is None and twin._state.adding
    assert not Patient.objects.exists() and not FirstLineResponse.objects.exists()
    assert not Patient.history.exists() and not FirstLineResponse.history.exists()
    assert {h.table_name: (h.seq, h.hash) for h in TrailHead.objects.all()} == heads
    assert list(DataRevision.objects.values_list("revision", flat=True)) == revision


def test_a_data_cut_in_force_refuses_copy_in_the_database(copy_path, data_manager, coordinator, center):
    """The services refuse frozen records first; below them the cut's triggers refuse COPY too."""
    stored = relapsed_course(PatientFactory(center=center, study_id="MLL98-0001", trial=trial("MLL98")))
    relapse = stored.relapses.get()
    cuts.create_cut(user=data_manager, name="MLL98 final", trial="MLL98", source="test")
    follow_up_day = relapse.relapse_date + timedelta(days=30)
    new = Relapse(patient=stored, relapse_date=follow_up_day, site="BM")
    with pytest.raises(IntegrityError, match="MLL98 final"), transaction.atomic():
        with audit_context(user=coordinator, source="test:bulk"):
            bulk_copy.insert(Relapse, [new], now=relapse.created_at)
    relapse.site = "CNS"
    with pytest.raises(IntegrityError, match="MLL98 final"), transaction.atomic():
        with audit_context(user=coordinator, reason="late correction", source="test:bulk"):
            bulk_copy.update(Relapse, [relapse], ["site"], now=relapse.created_at)
    assert Relapse.objects.filter(patient=stored).count() == 1
    assert Relapse.objects.get(pk=relapse.pk).site == "BM"
