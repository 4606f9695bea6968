"""Query models: the field must be a case-report field, one rule query per record and field, and
on PostgreSQL an append-only history."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from registry.queries import services
from registry.queries.models import DataQuery, check_field, field_label, record_model

pytestmark = pytest.mark.django_db


def test_record_types_and_fields_are_the_case_report_forms():
    assert record_model("salvage_line").entry_fields[-1] == "response_date"
    check_field("follow_up", "death_date")
    check_field("patient", "")
    with pytest.raises(ValidationError, match="not a field of a relapse"):
        check_field("relapse", "wbc")
    assert field_label("patient", "wbc").startswith("WBC") and field_label("relapse", "") == "whole record"


def test_a_rule_has_one_query_per_record_and_field(relapse):
    DataQuery.objects.create(
        patient=relapse.patient, record_type="relapse", record_id=relapse.pk, field="site", rule="r"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        DataQuery.objects.create(
            patient=relapse.patient, record_type="relapse", record_id=relapse.pk, field="site", rule="r"
        )
    # Manual queries may repeat: a second question on the same field.
    for _ in range(2):
        DataQuery.objects.create(patient=relapse.patient, record_type="relapse", record_id=relapse.pk, field="site")


def test_the_query_history_is_append_only_on_postgresql(postgres_only, relapse, data_manager):
    services.raise_query(user=data_manager, record_type="relapse", record_id=relapse.pk, message="?", source="t")
    for table in ("queries_historicaldataquery", "queries_historicalquerymessage"):
        with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET history_change_reason = 'rewritten'")
        with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")
