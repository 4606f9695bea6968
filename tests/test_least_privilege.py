"""The application's database role (``manage.py grant_app_role``) owns nothing and can only append to the trail.

A throwaway LOGIN role is granted like the production one and connects on its own; it is
refused TRUNCATE, DISABLE TRIGGER, DROP and UPDATE on a trail table and replica mode, and
its own write to a clinical table still leaves a chained trail row.
"""

import uuid
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from registry.models import Patient
from tests.factories import PatientFactory

# The role must see committed grants and rows: no test transaction around this one.
pytestmark = pytest.mark.django_db(transaction=True)

TRAIL_TABLE = "registry_historicalpatient"


@pytest.fixture
def app_role(postgres_only):
    role = f"trail_app_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN")
    try:
        call_command("grant_app_role", role, stdout=StringIO())
        yield role
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")


@pytest.fixture
def as_app(app_role):
    settings = connection.settings_dict
    conn = psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=app_role,
        autocommit=True,
    )
    try:
        yield conn
    finally:
        conn.close()


REFUSED = [
    f"TRUNCATE {TRAIL_TABLE}",
    f"ALTER TABLE {TRAIL_TABLE} DISABLE TRIGGER ALL",
    f"ALTER TABLE {TRAIL_TABLE} DISABLE TRIGGER {TRAIL_TABLE}_chain",
    f"DROP TABLE {TRAIL_TABLE}",
    f"UPDATE {TRAIL_TABLE} SET history_change_reason = 'tampered'",
    "UPDATE registry_trailhead SET seq = 0",
    "ALTER TABLE registry_patient DISABLE TRIGGER registry_patient_trail_update",
    "SET session_replication_role = replica",
]


def test_the_application_role_cannot_tamper_with_the_trail(as_app):
    # One test for all (each flush of a transactional test costs seconds); each statement on its own.
    for statement in REFUSED:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_app.execute(statement)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM pg_trigger WHERE tgrelid = '{TRAIL_TABLE}'::regclass"
            " AND NOT tgisinternal AND tgenabled = 'O'"
        )
        assert cursor.fetchone()[0] == 3  # append-only, chain and head: still on


def test_the_application_role_writes_clinical_rows_and_their_trail(as_app, app_role, center):
    patient = PatientFactory(center=center)
    as_app.execute(
        "INSERT INTO registry_patient (study_id, center_id, trial_id, registration_date, sex, date_of_birth,"
        " diagnosis_date, wbc, cns_status, immunophenotype, prednisone_response, mll_partner,"
        " mll_detection_method, locked, created_at, updated_at, version)"
        " SELECT 'MLL96-9999', center_id, trial_id, registration_date, sex, date_of_birth,"
        " diagnosis_date, wbc, cns_status, immunophenotype, prednisone_response, mll_partner,"
        " mll_detection_method, false, now(), now(), 1 FROM registry_patient WHERE id = %s",
        [patient.pk],
    )
    with as_app.transaction():
        as_app.execute(
            "SELECT set_config('registry.user_id', '', true), set_config('registry.reason', 'typo', true),"
            " set_config('registry.source', 'psql', true), set_config('registry.change', 'one', true)"
        )
        as_app.execute("UPDATE registry_patient SET wbc = 12 WHERE study_id = 'MLL96-9999'")
    added = Patient.objects.get(study_id="MLL96-9999")
    assert list(added.history.values_list("history_type", "audit_source", "history_change_reason", "version")) == [
        ("~", "psql", "typo", 2),
        ("+", f"db:{app_role}", "", 1),
    ]
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("Audit trail intact")
