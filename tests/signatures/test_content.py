"""What a signature signs: every case-report field with ids and versions, the cut's fingerprint,
name and scope; canonical JSON, so the same content always gives the same SHA-256."""

import hashlib
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from registry.models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant
from registry.signatures import content

pytestmark = pytest.mark.django_db


def test_canonical_json_sorts_keys_and_spells_dates_and_decimals_exactly():
    text = content.canonical_json({"b": Decimal("150.0"), "a": date(1996, 5, 9), "c": "Tōkyō"})
    assert text == '{"a":"1996-05-09","b":"150.0","c":"Tōkyō"}'
    assert content.sha256({"x": 1, "y": [1, 2]}) == content.sha256({"y": [1, 2], "x": 1})
    assert content.sha256({"x": 1}) == hashlib.sha256(b'{"x":1}').hexdigest()


def test_a_casebook_holds_every_entry_field_of_the_patient_and_its_records_with_ids_and_versions(patient):
    signed = content.signed_content("casebook", patient.pk)
    assert signed["patient"]["pk"] == patient.pk and signed["patient"]["version"] == 1
    assert set(signed["patient"]) == {"pk", "version", "trial_id", *(f for f in Patient.entry_fields if f != "trial")}
    by_model = {row["record"]: row for row in signed["records"]}
    for model in (FirstLineResponse, Relapse, SalvageLine, Transplant, FollowUp):
        row = by_model[model._meta.model_name]
        record = model.objects.get(patient=patient)
        assert (row["pk"], row["version"]) == (record.pk, record.version)
        assert set(row) == {"record", "pk", "version", *model.entry_fields}
    assert len(signed["records"]) == 5


@pytest.mark.parametrize(
    "table, column, value",
    [
        ("registry_patient", "wbc", 151),
        ("registry_patient", "mll_partner", "ENL"),
        ("registry_relapse", "site", "CNS"),
        ("registry_followup", "lost_to_follow_up", True),
        ("registry_transplant", "version", 7),
    ],
)
def test_any_stored_change_of_a_field_or_version_changes_the_hash(patient, table, column, value):
    before = content.content_hash("casebook", patient.pk)
    assert content.content_hash("casebook", patient.pk) == before  # stable
    key = "id" if table == "registry_patient" else "patient_id"
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {key} = %s", [value, patient.pk])
    assert content.content_hash("casebook", patient.pk) != before


def test_a_deleted_patient_has_an_empty_casebook():
    assert content.signed_content("casebook", 999_999) == {"kind": "casebook", "patient": None, "records": []}


def test_a_data_cut_is_signed_by_fingerprint_name_and_scope(cut):
    assert content.signed_content("data_cut", cut.pk)["cut"] == {
        "pk": cut.pk,
        "name": "MLL96 final analysis 2026-12-01",
        "scope": "MLL96",
        "fingerprint": cut.fingerprint,
    }


def test_a_report_without_runs_signs_an_empty_list(cut):
    assert content.signed_content("report", cut.pk) == {"kind": "report", "cut": cut.pk, "runs": []}
