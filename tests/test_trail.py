"""PostgreSQL records every write of a clinical table, whatever its path (registry.trail, migration 0008).

Each write has exactly one history row: the ORM path hands its actor to the triggers, other
paths (the base manager, raw SQL) are recorded as the database role's, and the version and
the data revision move on every path.
"""

from datetime import timedelta
from importlib import import_module

import pytest
from django.db import connection, models

from registry import services, trail
from registry.audit import audit_context
from registry.models import DataRevision, FirstLineResponse, Patient, Relapse
from tests.factories import PatientFactory, SalvageLineFactory, relapsed_course

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


# The chain written set-based (migration 0012): the capture links a statement's rows itself, the
# row trigger links every other insert, and verify recomputes the same chain either way.


def sql(statement, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def chain_of(table):
    """(history_id, chain_seq, chain_hash, the link verify recomputes) for every row, in chain order."""
    return sql(
        f"SELECT history_id, chain_seq, chain_hash,"
        f" registry_trail_link(coalesce(lag(chain_hash) OVER w, ''), to_jsonb(h))"
        f" FROM {table} h WINDOW w AS (ORDER BY chain_seq, history_id) ORDER BY chain_seq"
    )


def assert_chained(table):
    rows = chain_of(table)
    assert [seq for _, seq, _, _ in rows] == list(range(1, len(rows) + 1))
    assert all(stored == recomputed for _, _, stored, recomputed in rows)
    assert sql("SELECT seq, hash FROM registry_trailhead WHERE table_name = %s", [table]) == [rows[-1][1:3]]
    assert trail.verify().ok
    return rows


def test_a_multi_row_statement_is_chained_as_verify_recomputes_it(postgres_only, center):
    patients = PatientFactory.create_batch(4, center=center)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_patient SET wbc = wbc + 1")
    rows = assert_chained("registry_historicalpatient")
    assert len(rows) == 8
    # One statement's rows are linked, numbered and dated in the order of their records.
    changed = list(Patient.history.filter(history_type="~").order_by("history_id"))
    assert [row.id for row in changed] == sorted(patient.pk for patient in patients)
    assert [row.history_date for row in changed] == sorted(row.history_date for row in changed)
    assert [history_id for history_id, *_ in rows] == sorted(history_id for history_id, *_ in rows)


def test_a_direct_insert_into_a_history_table_is_chained_whatever_link_it_brings(postgres_only, center):
    patient = PatientFactory(center=center)
    table = "registry_historicalpatient"
    # A copy of the patient's latest history row that claims a link of its own.
    sql(
        f"INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, to_jsonb(h) - 'history_id'"
        f" || jsonb_build_object('history_id', 999999, 'chain_seq', 999, 'chain_hash', 'forged'))).*"
        f" FROM {table} h WHERE id = %s",
        [patient.pk],
    )
    rows = assert_chained(table)
    assert rows[-1][:2] == (999999, 2)


def test_a_history_insert_by_another_role_from_a_trigger_is_chained(postgres_only, center):
    """Only the trail owner's own trigger functions may hand in a link; another role's never."""
    patient = PatientFactory(center=center)
    table = "registry_historicalpatient"
    sql("CREATE ROLE trail_test_writer")
    sql(f"GRANT SELECT, INSERT ON {table} TO trail_test_writer")
    sql(
        f"CREATE FUNCTION pg_temp.forge() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, to_jsonb(h) - 'history_id'"
        f" || jsonb_build_object('history_id', 999999, 'chain_seq', 2, 'chain_hash', 'forged'))).*"
        f" FROM {table} h WHERE id = {patient.pk}; RETURN NULL; END $$"
    )
    sql("CREATE TEMPORARY TABLE forger (x int)")
    sql("CREATE TRIGGER forge AFTER INSERT ON forger FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.forge()")
    sql("GRANT INSERT ON forger TO trail_test_writer")
    sql("SET LOCAL ROLE trail_test_writer")
    sql("INSERT INTO forger VALUES (1)")
    sql("RESET ROLE")
    assert assert_chained(table)[-1][2] != "forged"


def test_row_trigger_and_capture_links_interleave_in_one_transaction(postgres_only, center):
    patient = PatientFactory(center=center)
    table = "registry_historicalpatient"
    copy_latest = (
        f"INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, to_jsonb(h) - 'history_id'"
        f" - 'chain_seq' - 'chain_hash' || jsonb_build_object('history_id',"
        f" nextval(pg_get_serial_sequence('{table}', 'history_id'))))).*"
        f" FROM {table} h WHERE id = %s ORDER BY history_id DESC LIMIT 1"
    )
    sql(copy_latest, [patient.pk])
    sql("UPDATE registry_patient SET wbc = 7 WHERE id = %s", [patient.pk])
    sql(copy_latest, [patient.pk])
    sql("UPDATE registry_patient SET wbc = 8 WHERE id = %s", [patient.pk])
    assert len(assert_chained(table)) == 5


def test_a_session_in_another_time_zone_is_chained_in_utc_and_keeps_its_zone(postgres_only, center):
    PatientFactory.create_batch(2, center=center)
    sql("SET LOCAL TimeZone TO 'Asia/Tokyo'")
    sql("UPDATE registry_patient SET wbc = 9")
    assert sql("SHOW TimeZone") == [("Asia/Tokyo",)]
    sql("SET LOCAL TimeZone TO 'UTC'")
    assert_chained("registry_historicalpatient")


def test_a_statement_that_changes_nothing_writes_no_history(postgres_only, center):
    PatientFactory(center=center)
    before, rows = revision(), Patient.history.count()
    sql("UPDATE registry_patient SET wbc = 1 WHERE false")
    assert (revision(), Patient.history.count()) == (before, rows)


# Texts that JSON escapes or that are not ASCII, in one column of one multi-row statement.
AWKWARD_TEXTS = [
    'quote " backslash \\ slash /',
    "line\nbreak\ttab\rreturn",
    "control \x01\x1f",
    "日本語のレジメン",
    "🧬 emoji",
    "'single'",
]


def test_the_capture_prints_a_row_as_its_json_text_column_by_column(postgres_only, center):
    """Migration 0015: the capture's text of a row, printed column by column, is the text every link is
    defined on (``registry_trail_row_text(to_jsonb(h))``) for texts JSON escapes, NULLs, numbers,
    dates and timestamps: the links verify recomputes are the ones the capture wrote."""
    patient = relapsed_course(center=center)
    lines = [
        SalvageLineFactory(
            patient=patient,
            start_date=patient.diagnosis_date + timedelta(days=211 + n),
            response="NE",
            response_date=None,
        )
        for n in range(len(AWKWARD_TEXTS))
    ]
    ids = [line.pk for line in lines]
    sql(
        "UPDATE registry_salvageline s SET regimen = t.text, agents = t.text || t.text"
        " FROM unnest(%s::bigint[], %s::text[]) AS t(id, text) WHERE s.id = t.id",
        [ids, AWKWARD_TEXTS],
    )
    sql("UPDATE registry_patient SET wbc = 123456.7 WHERE id = %s", [lines[0].patient_id])
    by_column = import_module("registry.migrations.0015_trail_text_by_column")
    for history in trail.CLINICAL_TABLES.values():
        columns = [
            name
            for (name,) in sql(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [history],
            )
            if name not in ("chain_seq", "chain_hash")
        ]
        text = by_column.column_row_text("", columns)
        differing = sql(
            f"SELECT count(*) FROM {history} h WHERE {text} IS DISTINCT FROM registry_trail_row_text(to_jsonb(h))"
        )
        assert differing == [(0,)], history
    assert {row[0] for row in sql("SELECT regimen FROM registry_historicalsalvageline")} >= set(AWKWARD_TEXTS)
    assert_chained("registry_historicalsalvageline")
    assert_chained("registry_historicalpatient")


def test_the_capture_copies_every_column_of_its_clinical_table(postgres_only):
    """The capture names its columns: a migration that adds one must call 0015's create_capture again."""
    for clinical, history in trail.CLINICAL_TABLES.items():
        source = sql(f"SELECT pg_get_functiondef('registry_trail_capture_{clinical}'::regproc)")[0][0]
        columns = sql(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            [clinical],
        )
        for (column,) in columns:
            assert f"c.{column} AS {column}" in source, f"{history} is not written {column}: re-run create_capture"
