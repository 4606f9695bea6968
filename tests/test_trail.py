"""PostgreSQL records every write of a clinical table, whatever its path (registry.trail, migration 0008).

Each write has exactly one history row: the ORM path hands its actor to the triggers, other
paths (the base manager, raw SQL) are recorded as the database role's, and the version and
the data revision move on every path.
"""

from datetime import timedelta

import pytest
from django.db import connection, models

from registry import services
from registry.audit import audit_context
from registry.models import DataRevision, FirstLineResponse, Patient, Relapse
from tests.factories import PatientFactory, relapsed_course

pytestmark = pytest.mark.django_db


def revision():
    return DataRevision.current().revision


def db_role():
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_user")
        return f"db:{cursor.fetchone()[0]}"


def test_raw_sql_update_is_recorded_with_old_and_new_values(postgres_only, center):
    patient = PatientFactory(center=center, wbc=150)
    before = revision()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_patient SET wbc = 320.5, locked = true WHERE id = %s", [patient.pk])
    changed, created = patient.history.all()[:2]
    assert (created.wbc, created.locked, created.version) == (150, False, 1)
    assert (changed.history_type, changed.wbc, changed.locked, changed.version) == ("~", 320.5, True, 2)
    assert (changed.history_user, changed.history_change_reason, changed.audit_source) == (None, "", db_role())
    assert (changed.audit_center_id, changed.audit_study_id) == (center.pk, patient.study_id)
    patient.refresh_from_db()
    assert patient.version == 2
    assert revision() == before + 1


@pytest.mark.parametrize(
    "write",
    [
        lambda qs: Patient._base_manager.filter(pk__in=qs).update(cns_status="CNS3"),
        lambda qs: models.QuerySet(Patient).filter(pk__in=qs).update(cns_status="CNS3"),
    ],
    ids=["base_manager", "plain_queryset"],
)
def test_updates_below_the_audited_queryset_are_recorded(postgres_only, center, write):
    patient = PatientFactory(center=center, cns_status="CNS1")
    before = revision()
    assert write([patient.pk]) == 1
    row = patient.history.first()
    assert (row.history_type, row.cns_status, row.version, row.audit_source) == ("~", "CNS3", 2, db_role())
    assert Patient.objects.get().version == 2
    assert revision() == before + 1


def test_raw_delete_is_recorded(postgres_only, center):
    patient = relapsed_course(center=center)
    before = revision()
    Relapse.objects.filter(patient=patient)._raw_delete(connection.alias)
    row = Relapse.history.first()
    assert (row.history_type, row.patient_id, row.audit_study_id, row.audit_source) == (
        "-",
        patient.pk,
        patient.study_id,
        db_role(),
    )
    assert not Relapse.objects.exists()
    assert revision() == before + 1


def test_raw_sql_insert_and_delete_are_recorded(postgres_only, center):
    patient = PatientFactory(center=center)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO registry_firstlineresponse (patient_id, outcome, assessment_date, created_at, updated_at,"
            " version) VALUES (%s, 'CR', %s, now(), now(), 1)",
            [patient.pk, patient.diagnosis_date + timedelta(days=30)],
        )
        cursor.execute("DELETE FROM registry_firstlineresponse")
    assert list(FirstLineResponse.history.values_list("history_type", "outcome", "audit_source")) == [
        ("-", "CR", db_role()),
        ("+", "CR", db_role()),
    ]


def test_each_orm_write_has_exactly_one_history_row_with_its_actor(postgres_only, coordinator, data_manager, center):
    patient = services.save_record(user=coordinator, record=PatientFactory.build(center=center), source="page")
    patient.wbc = 175
    services.save_record(user=coordinator, record=patient, source="api", reason="lab report corrected")
    with audit_context(user=data_manager, reason="recoded", source="command:recode"):
        Patient.objects.filter(pk=patient.pk).update(sex="M")
    rows = list(patient.history.order_by("history_id"))
    assert [(r.history_type, r.history_user, r.history_change_reason, r.audit_source, r.version) for r in rows] == [
        ("+", coordinator, "", "page", 1),
        ("~", coordinator, "lab report corrected", "api", 2),
        ("~", data_manager, "recoded", "command:recode", 3),
    ]


def test_the_actor_does_not_leak_to_a_later_raw_write(postgres_only, coordinator, center):
    patient = services.save_record(user=coordinator, record=PatientFactory.build(center=center), source="page")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_patient SET wbc = 1 WHERE id = %s", [patient.pk])
    row = patient.history.first()
    assert (row.history_user, row.history_change_reason, row.audit_source) == (None, "", db_role())


def test_one_service_write_moves_the_revision_once_and_raw_sql_once_per_transaction(postgres_only, coordinator, center):
    before = revision()
    relapsed_course(center=center)  # one service call per record: six changes
    assert revision() == before + 6
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_patient SET wbc = 2")
        cursor.execute("UPDATE registry_relapse SET site = 'CNS'")
    assert revision() == before + 7
