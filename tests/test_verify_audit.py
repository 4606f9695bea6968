"""``manage.py verify_audit``: exit 0 on an intact trail; exit 1 naming the table and row of a tampered one.

The tampering is done as a superuser who gets past the append-only triggers: with the
triggers disabled, in replica mode, or with TRUNCATE.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from registry import trail
from registry.models import FollowUp, Patient
from registry.trail import AuditCheck
from tests.factories import FollowUpFactory, PatientFactory, relapsed_course

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(postgres_only, center):
    """Three patients with their courses, one edited: every history table has rows."""
    patients = [relapsed_course(patient=PatientFactory(center=center)) for _ in range(3)]
    from registry import services

    patients[1].wbc = 42
    services.save_record(user=None, record=patients[1], source="test", reason="lab value corrected")
    return patients


def verify_audit():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def refused(match):
    with pytest.raises(CommandError, match=match) as error:
        call_command("verify_audit", stdout=StringIO())
    assert error.value.returncode == 1
    return str(error.value)


def sql(statement, params=None):
    with connection.cursor() as cursor:
        if statement.startswith(("ALTER TABLE", "TRUNCATE")):
            # The test's open transaction holds deferred foreign-key checks; ALTER and TRUNCATE need them done.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(statement, params)


def middle_history_id(table):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT history_id, chain_seq FROM {table} ORDER BY chain_seq OFFSET 1 LIMIT 1")
        return cursor.fetchone()


def test_an_intact_trail_passes_and_is_recorded(cohort):
    out = verify_audit()
    assert out.startswith("Audit trail intact: 8 history tables")
    check = AuditCheck.objects.get()
    assert check.ok and check.message in out
    assert check.heads["registry_historicalpatient"][0] == 4  # three creations, one change


def test_a_row_deleted_with_triggers_disabled_is_named(cohort):
    table = "registry_historicalpatient"
    history_id, seq = middle_history_id(table)
    sql(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    sql(f"DELETE FROM {table} WHERE history_id = %s", [history_id])
    sql(f"ALTER TABLE {table} ENABLE TRIGGER ALL")
    message = refused(table)
    assert f"(seq {seq + 1})" in message and "deleted" in message
    assert not AuditCheck.objects.get().ok


def test_a_row_edited_in_replica_mode_is_named(cohort):
    table = "registry_historicalrelapse"
    history_id, seq = middle_history_id(table)
    sql("SET LOCAL session_replication_role = replica")
    sql(f"UPDATE {table} SET site = 'CNS' WHERE history_id = %s", [history_id])
    sql("SET LOCAL session_replication_role = origin")
    message = refused(table)
    assert f"history_id {history_id} (seq {seq})" in message and "edited" in message


def test_the_last_row_deleted_is_found_by_the_head(cohort):
    table = "registry_historicalfollowup"
    sql("SET LOCAL session_replication_role = replica")
    sql(f"DELETE FROM {table} WHERE chain_seq = (SELECT max(chain_seq) FROM {table})")
    sql("SET LOCAL session_replication_role = origin")
    assert "rows 3..3 are missing" in refused(table)


def test_a_truncated_trail_table_is_found(cohort):
    sql("TRUNCATE registry_historicaltransplant")
    message = refused("registry_historicaltransplant")
    assert "rows 1..3 are missing (deleted or truncated)" in message


def test_a_truncate_of_the_trail_and_its_heads_is_found_by_the_clinical_rows(cohort):
    sql("TRUNCATE registry_historicalsalvageline, registry_trailhead")
    message = refused("registry_salvageline")
    assert f"registry_salvageline id {cohort[0].salvage_lines.order_by('pk').first().pk}" in message


def test_a_clinical_change_with_triggers_disabled_is_found(cohort):
    sql("ALTER TABLE registry_patient DISABLE TRIGGER ALL")
    sql("UPDATE registry_patient SET wbc = 1 WHERE id = %s", [cohort[2].pk])
    sql("ALTER TABLE registry_patient ENABLE TRIGGER ALL")
    message = refused("registry_patient")
    assert f"registry_patient id {cohort[2].pk}: its current values differ" in message


def test_a_clinical_delete_with_triggers_disabled_is_found(cohort):
    follow_up = cohort[0].follow_ups.first()
    sql("SET LOCAL session_replication_role = replica")
    sql("DELETE FROM registry_followup WHERE id = %s", [follow_up.pk])
    sql("SET LOCAL session_replication_role = origin")
    assert f"registry_followup id {follow_up.pk}: the history says it exists, but the row is gone" in refused(
        "registry_followup"
    )


def test_a_change_back_to_an_older_history_row_is_found(cohort):
    # Patient 1's wbc was corrected through the trail; put back whole as its first history row has it,
    # with the triggers off, the row equals that history row but not its latest one.
    patient_id = cohort[1].pk
    sql("SET LOCAL session_replication_role = replica")
    sql("DELETE FROM registry_patient WHERE id = %s", [patient_id])
    sql(
        "INSERT INTO registry_patient SELECT (jsonb_populate_record(NULL::registry_patient, to_jsonb(h))).*"
        " FROM registry_historicalpatient h WHERE id = %s ORDER BY history_id LIMIT 1",
        [patient_id],
    )
    sql("SET LOCAL session_replication_role = origin")
    assert f"registry_patient id {patient_id}: its current values differ" in refused("registry_patient")


def test_a_record_deleted_through_the_trail_passes_and_put_back_without_it_is_found(cohort):
    from registry import services

    follow_up = cohort[0].follow_ups.first()
    follow_up_id = follow_up.pk  # delete() clears it
    services.delete_record(user=None, record=follow_up, reason="entered twice", source="test")
    assert verify_audit().startswith("Audit trail intact")
    sql("SET LOCAL session_replication_role = replica")
    sql(
        "INSERT INTO registry_followup SELECT (jsonb_populate_record(NULL::registry_followup, to_jsonb(h))).*"
        " FROM registry_historicalfollowup h WHERE id = %s AND history_type = '-'",
        [follow_up_id],
    )
    sql("SET LOCAL session_replication_role = origin")
    assert f"registry_followup id {follow_up_id}: its current values differ" in refused("registry_followup")


def test_the_first_changed_and_the_first_vanished_record_of_one_table_are_both_named(cohort):
    FollowUpFactory(patient=cohort[2], contact_date=cohort[2].diagnosis_date + timedelta(days=100))
    follow_ups = list(FollowUp.objects.order_by("pk"))  # four
    sql("SET LOCAL session_replication_role = replica")
    sql(
        "UPDATE registry_followup SET lost_to_follow_up = true WHERE id = ANY(%s)",
        [[follow_ups[1].pk, follow_ups[3].pk]],
    )
    sql("DELETE FROM registry_followup WHERE id = ANY(%s)", [[follow_ups[0].pk, follow_ups[2].pk]])
    sql("SET LOCAL session_replication_role = origin")
    message = refused("registry_followup")
    assert f"registry_followup id {follow_ups[1].pk}: its current values differ" in message
    assert f"registry_followup id {follow_ups[0].pk}: the history says it exists" in message


def test_the_record_check_is_never_planned_as_a_nested_loop(cohort):
    # Before the first ANALYZE of a bulk import a per-record lookup of the latest history row was
    # planned as a scan of the whole history table per record (hours at 100,000 patients).
    for clinical, history in trail.CLINICAL_TABLES.items():
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + trail._RECORDS.format(clinical=clinical, history=history))
            plan = "\n".join(line for (line,) in cursor.fetchall())
        assert "Nested Loop" not in plan, plan


def test_a_row_inserted_with_triggers_disabled_is_found(cohort):
    table = "registry_historicalpatient"
    sql("SET LOCAL session_replication_role = replica")
    sql(
        f"INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, to_jsonb(h) - 'history_id'"
        f" - 'chain_seq' - 'chain_hash' || jsonb_build_object('history_id', 999999))).* FROM {table} h LIMIT 1"
    )
    sql("SET LOCAL session_replication_role = origin")
    assert "history_id 999999 (seq None): written with the chain trigger switched off" in refused(table)


def test_a_chain_rewritten_after_the_last_check_is_found(cohort):
    verify_audit()  # anchors every chain as it is now
    table = "registry_historicalpatient"
    sql("SET LOCAL session_replication_role = replica")
    # Rewrite the whole chain consistently from the first row: only the anchor can tell.
    sql(f"UPDATE {table} SET history_change_reason = 'rewritten' WHERE chain_seq = 1")
    sql(
        f"""DO $$ DECLARE previous text := ''; entry record; BEGIN
            SET LOCAL TimeZone TO 'UTC';
            FOR entry IN SELECT history_id, to_jsonb(h) AS j FROM {table} h ORDER BY chain_seq LOOP
                previous := registry_trail_link(previous, entry.j);
                UPDATE {table} SET chain_hash = previous WHERE history_id = entry.history_id;
            END LOOP;
            UPDATE registry_trailhead SET hash = previous WHERE table_name = '{table}';
        END $$"""
    )
    sql("SET LOCAL session_replication_role = origin")
    assert "seq 4: differs from the row the last intact check saw" in refused(table)


def test_writes_after_tampering_do_not_hide_it(cohort):
    table = "registry_historicalpatient"
    history_id, _ = middle_history_id(table)
    sql(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    sql(f"DELETE FROM {table} WHERE history_id = %s", [history_id])
    sql(f"ALTER TABLE {table} ENABLE TRIGGER ALL")
    PatientFactory(center=cohort[0].center)
    refused(table)


def test_sqlite_has_nothing_to_verify(monkeypatch, db):
    monkeypatch.setattr(trail, "supported", lambda using="default": False)
    assert "PostgreSQL only" in verify_audit()
    assert not AuditCheck.objects.exists()


def test_the_nightly_task_stores_the_result(cohort):
    from registry.tasks import verify_audit_trail

    verify_audit_trail.delay()
    assert AuditCheck.objects.get().ok
    assert Patient.objects.count() == 3


def test_the_audit_page_shows_the_last_result(cohort, login):
    from django.urls import reverse

    client = login("admin_user")
    assert b"has not been verified yet" in client.get(reverse("registry:audit-trail")).content
    sql("TRUNCATE registry_historicaltransplant")
    with pytest.raises(CommandError):
        call_command("verify_audit", stdout=StringIO())
    page = client.get(reverse("registry:audit-trail")).content.decode()
    assert "Audit trail BROKEN: registry_historicaltransplant head: rows 1..3 are missing" in page
