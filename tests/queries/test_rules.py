"""The data-quality rules on the demo cohort: the expected queries, never a duplicate, closed
(and reopened) by their rule as the data change. Expectations are derived independently from the
course facts (registry.course), not from the rules' own queries."""

from datetime import date, timedelta
from io import StringIO

import pandas as pd
import pytest
from django.core.management import call_command

from registry import course
from registry import services as clinical
from registry.models import Transplant
from registry.queries import rules, services
from registry.queries.models import DataQuery, QueryMessage, SourceVerification

pytestmark = pytest.mark.django_db
AS_OF = date(2026, 6, 30)


@pytest.fixture
def seeded(db):
    call_command("seed_demo", stdout=StringIO())


@pytest.fixture
def demo(seeded):
    """The demo cohort without the queries seed_demo leaves (the rules run from scratch)."""
    QueryMessage.objects.all().delete()
    DataQuery.objects.all().delete()


def expected_findings(as_of):
    """{rule code: number of (record, field)} from the course frame and the event tables."""
    frame = course.course_frame()
    events = course.event_tables(course=frame)
    day = pd.Timestamp(as_of)
    alive = frame[frame["dead"].eq(0) & frame["lost_to_follow_up"].eq(0)]
    last = alive["last_contact_date"].fillna(alive["diagnosis_date"])
    relapses = events["relapses"].merge(frame[["patient_id", "cr1_date"]], on="patient_id")
    soon = relapses[
        (relapses["relapse_date"] >= relapses["cr1_date"])
        & (relapses["relapse_date"] <= relapses["cr1_date"] + pd.Timedelta(days=14))
    ]
    salvage = events["salvage_lines"]
    follow_ups = events["follow_ups"]
    deaths = follow_ups[follow_ups["vital_status"] == "DEAD"]
    return {
        "follow_up_overdue": int((last < day - pd.Timedelta(days=365)).sum()),
        "death_incomplete": int(
            deaths["death_date"].isna().sum() + deaths["cause_of_death"].isin(["", "UNKNOWN"]).sum()
        ),
        "wbc_implausible": int(((frame["wbc"] > 1000) | (frame["wbc"] < 0.1)).sum()),
        "relapse_soon_after_cr": len(soon),
        "salvage_without_response": int(
            (
                (salvage["response"] == "NE")
                & salvage["response_date"].isna()
                & (salvage["start_date"] < day - pd.Timedelta(days=90))
            ).sum()
        ),
        "hsct_without_status": int((events["transplants"]["disease_status"] == "UNKNOWN").sum()),
        "first_line_response_missing": int(
            (frame["outcome"].isna() & (frame["diagnosis_date"] < day - pd.Timedelta(days=60))).sum()
        ),
    }


def test_every_rule_is_declared_once_with_its_message():
    codes = [r.code for r in rules.RULES]
    assert len(codes) == len(set(codes)) == 7
    assert all(str(r.message) and str(r.title) for r in rules.RULES)
    with pytest.raises(ValueError, match="Two data-quality rules"):
        rules.rule(code=codes[0], title="x", message="x", record_type="patient")(lambda as_of: [])


def test_the_demo_cohort_raises_the_expected_queries_and_none_twice(demo):
    expected = expected_findings(AS_OF)
    history_before = DataQuery.history.count(), QueryMessage.history.count()
    first = services.run_quality_checks(as_of=AS_OF)
    assert {code: counts["raised"] for code, counts in first.items()} == expected
    assert expected["hsct_without_status"] == 2  # the paper's two transplants with unknown status
    assert expected["follow_up_overdue"] > 0
    total = DataQuery.objects.count()
    assert total == sum(expected.values())
    assert QueryMessage.objects.filter(action="raise", author=None).count() == total
    assert DataQuery.history.count() - history_before[0] == total
    assert QueryMessage.history.count() - history_before[1] == total

    second = services.run_quality_checks(as_of=AS_OF)
    assert all(counts == {**counts, "raised": 0, "closed": 0, "reopened": 0} for counts in second.values())
    assert DataQuery.objects.count() == total


def test_correcting_the_data_closes_the_rules_query_and_a_relapse_reopens_it(demo, data_manager):
    services.run_quality_checks(as_of=AS_OF)
    transplant = Transplant.objects.filter(disease_status="UNKNOWN").first()
    query = DataQuery.objects.get(rule="hsct_without_status", record_id=transplant.pk)

    transplant.disease_status = "NOT_CR"
    clinical.save_record(user=None, record=transplant, source="test", reason="status from the HSCT report")
    summary = services.run_quality_checks(as_of=AS_OF)
    assert summary["hsct_without_status"]["closed"] == 1
    query.refresh_from_db()
    assert query.status == "closed" and query.closed_by_rule
    assert query.messages.last().text == str(rules.RESOLVED)

    transplant.disease_status = "UNKNOWN"
    clinical.save_record(user=None, record=transplant, source="test", reason="status not documented after all")
    summary = services.run_quality_checks(as_of=AS_OF)
    assert summary["hsct_without_status"]["reopened"] == 1 and summary["hsct_without_status"]["raised"] == 0
    query.refresh_from_db()
    assert query.status == "open"
    assert DataQuery.objects.filter(rule="hsct_without_status", record_id=transplant.pk).count() == 1


def test_a_value_the_data_manager_confirmed_stays_closed(demo, data_manager):
    services.run_quality_checks(as_of=AS_OF)
    query = DataQuery.objects.filter(rule="hsct_without_status").first()
    services.close_query(user=data_manager, query=query, message="Confirmed: not documented at source.", source="test")
    summary = services.run_quality_checks(as_of=AS_OF)
    assert summary["hsct_without_status"] == {"found": 2, "raised": 0, "reopened": 0, "closed": 0}
    query.refresh_from_db()
    assert query.status == "closed" and not query.closed_by_rule


@pytest.mark.parametrize(
    "rule, days, found",
    [("first_line_response_missing", 60, False), ("first_line_response_missing", 61, True)],
)
def test_rule_boundaries(center, rule, days, found):
    from tests.factories import PatientFactory

    patient = PatientFactory(center=center)
    as_of = patient.diagnosis_date + timedelta(days=days)
    assert (patient.pk in {p for p, _, _ in rules.rule_by_code(rule).find(as_of)}) is found


def test_relapse_within_14_days_of_cr_is_found(center):
    from tests.factories import FirstLineResponseFactory, PatientFactory, RelapseFactory

    patient = PatientFactory(center=center)
    cr = FirstLineResponseFactory(patient=patient)
    soon = RelapseFactory(patient=patient, relapse_date=cr.assessment_date + timedelta(days=14))
    other = PatientFactory(center=center)
    cr2 = FirstLineResponseFactory(patient=other)
    RelapseFactory(patient=other, relapse_date=cr2.assessment_date + timedelta(days=15))
    assert [r for _, r, _ in rules.relapse_soon_after_cr(AS_OF)] == [soon.pk]


def test_the_demo_leaves_queries_in_every_state_and_some_verified_records(seeded):
    statuses = set(DataQuery.objects.values_list("status", flat=True))
    assert statuses == {"open", "answered", "closed"}
    assert DataQuery.objects.filter(rule="").exists() and DataQuery.objects.exclude(rule="").exists()
    assert SourceVerification.objects.values("patient").distinct().count() == 6
