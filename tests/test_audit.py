"""Every write path leaves a history row with user, UTC time, reason and source; history is append-only."""

from datetime import UTC, timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry import selectors, services
from registry.audit import ReasonRequired, audit_context
from registry.models import CLINICAL_MODELS, FirstLineResponse, Patient, Relapse
from tests.factories import FirstLineResponseFactory, PatientFactory, relapsed_course

pytestmark = pytest.mark.django_db

CLINICAL_HISTORY_TABLES = [
    "registry_historicalpatient",
    "registry_historicalfirstlineresponse",
    "registry_historicalrelapse",
    "registry_historicalsalvageline",
    "registry_historicaltransplant",
    "registry_historicalfollowup",
]


def assert_recent_utc(moment):
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert abs(timezone.now() - moment) < timedelta(minutes=5)


def test_service_save_records_user_time_reason_and_source(coordinator, center):
    patient = services.save_record(user=coordinator, record=PatientFactory.build(center=center), source="page")
    patient.wbc = 175
    services.save_record(user=coordinator, record=patient, source="api", reason="lab report corrected")
    changed, created = patient.history.all()
    assert (created.history_type, created.history_user, created.audit_source) == ("+", coordinator, "page")
    assert (changed.history_type, changed.history_user, changed.audit_source) == ("~", coordinator, "api")
    assert changed.history_change_reason == "lab report corrected"
    assert (changed.audit_center_id, changed.audit_study_id) == (center.pk, patient.study_id)
    assert_recent_utc(changed.history_date)


def test_direct_save_inside_audit_context_is_recorded(admin_user, center):
    patient = PatientFactory(center=center)
    patient.wbc = 80
    with audit_context(user=admin_user, reason="fixed in the admin", source="admin"):
        patient.save()
    row = patient.history.first()
    assert (row.history_user, row.history_change_reason, row.audit_source, row.wbc) == (
        admin_user,
        "fixed in the admin",
        "admin",
        80,
    )


def test_direct_save_without_a_reason_is_refused(center):
    patient = PatientFactory(center=center)
    patient.wbc = 80
    with pytest.raises(ReasonRequired):
        patient.save()
    assert patient.history.count() == 1


def test_queryset_update_needs_a_reason(center):
    PatientFactory(center=center)
    with pytest.raises(ReasonRequired):
        Patient.objects.update(wbc=1)
    assert not Patient.objects.filter(wbc=1).exists()


def test_queryset_update_writes_one_history_row_per_record(data_manager, center, other_center):
    a, b = PatientFactory(center=center), PatientFactory(center=center)
    untouched = PatientFactory(center=other_center)
    with audit_context(user=data_manager, reason="recoded CNS status", source="command:recode"):
        count = Patient.objects.filter(center=center).update(cns_status="CNS2")
    assert count == 2
    rows = Patient.history.filter(history_type="~")
    assert sorted(rows.values_list("id", flat=True)) == sorted([a.pk, b.pk])
    for row in rows:
        assert (row.cns_status, row.version, row.history_user, row.history_change_reason, row.audit_source) == (
            "CNS2",
            2,
            data_manager,
            "recoded CNS status",
            "command:recode",
        )
    assert untouched.history.count() == 1


def test_bulk_create_writes_history(center):
    patient = PatientFactory(center=center)
    with audit_context(reason="import", source="import:legacy.csv"):
        FirstLineResponse.objects.bulk_create(
            [
                FirstLineResponse(
                    patient=patient, outcome="CR", assessment_date=patient.diagnosis_date + timedelta(days=30)
                )
            ]
        )
    row = FirstLineResponse.history.get()
    assert (row.history_type, row.audit_source, row.audit_study_id, row.history_change_reason) == (
        "+",
        "import:legacy.csv",
        patient.study_id,
        "import",
    )


def test_bulk_create_refuses_conflict_tolerant_inserts(center):
    with pytest.raises(ValueError):
        Patient.objects.bulk_create([PatientFactory.build(center=center)], ignore_conflicts=True)


def test_bulk_update_needs_a_reason_and_writes_history(data_manager, center):
    patients = [PatientFactory(center=center), PatientFactory(center=center)]
    for patient in patients:
        patient.sex = "M"
    with pytest.raises(ReasonRequired):
        Patient.objects.bulk_update(patients, ["sex"])
    with audit_context(user=data_manager, reason="sex recoded", source="command:recode"):
        assert Patient.objects.bulk_update(patients, ["sex"]) == 2
    rows = Patient.history.filter(history_type="~")
    assert rows.count() == 2
    assert set(rows.values_list("sex", "version", "history_user", "history_change_reason")) == {
        ("M", 2, data_manager.pk, "sex recoded")
    }
    assert set(Patient.objects.values_list("sex", "version")) == {("M", 2)}


def test_queryset_delete_needs_a_reason_and_records_every_row(data_manager, center):
    patient = PatientFactory(center=center)
    FirstLineResponseFactory(patient=patient)
    Relapse.objects.create(patient=patient, relapse_date=patient.diagnosis_date + timedelta(days=100), site="BM")
    with pytest.raises(ReasonRequired):
        Relapse.objects.all().delete()
    with audit_context(user=data_manager, reason="entered for the wrong patient", source="admin"):
        Relapse.objects.all().delete()
    deleted = Relapse.history.get(history_type="-")
    assert (deleted.history_user, deleted.history_change_reason, deleted.audit_source) == (
        data_manager,
        "entered for the wrong patient",
        "admin",
    )


def test_every_audited_write_path_moves_the_data_revision_once(data_manager, center):
    from registry.models import DataRevision

    def revision():
        return DataRevision.current().revision

    before = revision()
    patients = [PatientFactory(center=center), PatientFactory(center=center)]  # plain saves, no context
    assert revision() == before + 2
    with audit_context(user=data_manager, reason="recoded", source="command:recode"):
        Patient.objects.filter(center=center).update(cns_status="CNS2")
    assert revision() == before + 3
    with audit_context(user=data_manager, reason="recoded", source="command:recode"):
        Patient.objects.filter(pk=-1).update(cns_status="CNS3")  # no row: no change
    assert revision() == before + 3
    for patient in patients:
        patient.refresh_from_db()
        patient.sex = "M"
    with audit_context(user=data_manager, reason="recoded", source="command:recode"):
        Patient.objects.bulk_update(patients, ["sex"])
    assert revision() == before + 4
    with audit_context(reason="import", source="import:legacy.csv"):
        Relapse.objects.bulk_create(
            [Relapse(patient=p, relapse_date=p.diagnosis_date + timedelta(days=200), site="BM") for p in patients]
        )
    assert revision() == before + 5
    with audit_context(user=data_manager, reason="entered twice", source="admin"):
        assert Relapse.objects.all().delete()[0] == 2
    assert revision() == before + 6


def test_management_command_writes_history(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", patients=6, seed=3, stdout=open("/dev/null", "w"))
    for model in CLINICAL_MODELS:
        rows = model.history.all()
        assert rows.count() == model.objects.count() > 0
        assert set(rows.values_list("history_type", "history_user", "history_change_reason", "audit_source")) == {
            ("+", None, "synthetic demo cohort", "command:seed_demo")
        }


def test_patient_history_shows_old_and_new_values(coordinator, center):
    patient = relapsed_course(center=center)
    patient.wbc = 310
    services.save_record(user=coordinator, record=patient, source="page", reason="lab value misread")
    history = selectors.patient_history(patient)
    assert len(history) == 7  # six creations, one change
    latest = history[0]
    assert (latest.action, latest.user, latest.reason, latest.source) == (
        "changed",
        "coord",
        "lab value misread",
        "page",
    )
    assert latest.changes == [("WBC at diagnosis (x10^9/L)", "150.0", "310.0")]
    assert latest.when.tzinfo is not None and latest.when.astimezone(UTC) == latest.when
    assert {row.record_type for row in history} == {m._meta.verbose_name for m in CLINICAL_MODELS}


# --- PostgreSQL: the history is append-only even at the SQL prompt ----------------------------


@pytest.fixture
def full_history(center):
    relapsed_course(center=center)  # one row in every clinical history table


@pytest.mark.parametrize("table", CLINICAL_HISTORY_TABLES)
@pytest.mark.parametrize("statement", ["UPDATE {table} SET history_change_reason = 'tampered'", "DELETE FROM {table}"])
def test_raw_sql_cannot_change_history(postgres_only, full_history, table, statement):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        (before,) = cursor.fetchone()
        assert before >= 1
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute(statement.format(table=table))
        cursor.execute(f"SELECT count(*) FROM {table} WHERE history_change_reason = 'tampered'")
        assert cursor.fetchone() == (0,)
        cursor.execute(f"SELECT count(*) FROM {table}")
        assert cursor.fetchone() == (before,)


@pytest.mark.parametrize("table", ["registry_historicalcenter", "registry_historicalmembership"])
def test_raw_sql_cannot_change_the_history_of_centers_and_roles(postgres_only, coordinator, table):
    with connection.cursor() as cursor:
        for statement in (f"UPDATE {table} SET history_change_reason = 'tampered'", f"DELETE FROM {table}"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(statement)
        cursor.execute(f"SELECT count(*) FROM {table}")
        assert cursor.fetchone()[0] >= 1


def test_database_refuses_non_infant_insert_and_update(postgres_only, center):
    patient = PatientFactory(center=center)
    with connection.cursor() as cursor:
        with pytest.raises(DatabaseError, match="patient_infant_at_diagnosis"), transaction.atomic():
            cursor.execute(
                "UPDATE registry_patient SET date_of_birth = diagnosis_date - 365 WHERE id = %s", [patient.pk]
            )
        with pytest.raises(DatabaseError, match="patient_infant_at_diagnosis"), transaction.atomic():
            cursor.execute(
                "INSERT INTO registry_patient (study_id, center_id, trial_id, registration_date, sex, date_of_birth,"
                " diagnosis_date, wbc, cns_status, immunophenotype, prednisone_response, mll_partner,"
                " mll_detection_method, locked, created_at, updated_at, version)"
                " SELECT 'MLL96-9999', center_id, trial_id, registration_date, sex, diagnosis_date - 400,"
                " diagnosis_date, wbc, cns_status, immunophenotype, prednisone_response, mll_partner,"
                " mll_detection_method, false, now(), now(), 1 FROM registry_patient WHERE id = %s",
                [patient.pk],
            )
    assert Patient.objects.get().age_at_diagnosis_days == 120


def test_history_tables_index_the_study_id_once_for_exact_search(postgres_only):
    """The trail is searched by exact study ID (upper-cased, as study IDs are): one plain btree per
    history table serves it; no pattern-ops copy for each history row to maintain."""
    from django.apps import apps

    from registry.audit import AuditFields

    tables = [m._meta.db_table for m in apps.get_models() if issubclass(m, AuditFields)]
    assert set(CLINICAL_HISTORY_TABLES) <= set(tables)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef LIKE %s",
            [tables, "%audit_study_id%"],
        )
        found = cursor.fetchall()
    assert sorted(table for table, _ in found) == sorted(tables)
    assert not [definition for _, definition in found if "pattern_ops" in definition]
    with CaptureQueriesContext(connection) as queries:
        selectors.audit_trail(study_id=" mll96-0001 ")
    searches = [q["sql"] for q in queries if "audit_study_id" in q["sql"]]
    assert searches and not [sql for sql in searches if "UPPER(" in sql.upper()]
