"""registry.course: the course facts derived once, the event tables, and the SQL predicates."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from registry.course import (
    course_frame,
    derived_factors,
    event_tables,
    factors,
    read_tables,
    recurrent_or_refractory_q,
    refractory_q,
    relapsed_q,
)
from registry.models import Patient
from tests.factories import (
    FirstLineResponseFactory,
    FollowUpFactory,
    PatientFactory,
    RelapseFactory,
    SalvageLineFactory,
    TransplantFactory,
    relapsed_course,
)


def _day(patient, days):
    return pd.Timestamp(patient.diagnosis_date + timedelta(days=days))


@pytest.fixture
def cohort(center, other_center):
    """Four courses: relapsed (factory), transplanted in CR1 and again after relapse, induction
    failure without follow-up, and in CR1 without events (at the other center)."""
    relapsed = relapsed_course(PatientFactory(center=center, study_id="MLL96-0001"))

    twice = PatientFactory(center=center, study_id="MLL96-0002", cns_status="CNS3", wbc="320.0")
    dx = twice.diagnosis_date
    FirstLineResponseFactory(patient=twice)
    TransplantFactory(patient=twice, transplant_date=dx + timedelta(days=100), disease_status="CR1")
    RelapseFactory(patient=twice, relapse_date=dx + timedelta(days=200), site="CNS")
    SalvageLineFactory(patient=twice, start_date=dx + timedelta(days=210), response="NR", response_date=None)
    SalvageLineFactory(patient=twice, start_date=dx + timedelta(days=250))
    RelapseFactory(patient=twice, relapse_date=dx + timedelta(days=400))
    TransplantFactory(patient=twice, transplant_date=dx + timedelta(days=300), disease_status="NOT_CR")
    FollowUpFactory(
        patient=twice,
        contact_date=dx + timedelta(days=700),
        vital_status="DEAD",
        death_date=dx + timedelta(days=700),
        cause_of_death="LEUKEMIA",
    )

    refractory = PatientFactory(
        center=center, study_id="MLL96-0003", diagnosis_date=twice.date_of_birth + timedelta(days=60)
    )
    FirstLineResponseFactory(
        patient=refractory, outcome="INDUCTION_FAILURE", assessment_date=refractory.diagnosis_date + timedelta(days=30)
    )
    SalvageLineFactory(
        patient=refractory, start_date=refractory.diagnosis_date + timedelta(days=40), response="NE", response_date=None
    )

    quiet = PatientFactory(center=other_center, study_id="MLL98-0004")
    FirstLineResponseFactory(patient=quiet)
    FollowUpFactory(patient=quiet, contact_date=quiet.diagnosis_date + timedelta(days=1500))
    return relapsed, twice, refractory, quiet


def test_course_facts_of_each_course(cohort):
    relapsed, twice, refractory, quiet = cohort
    df = course_frame().set_index("study_id")

    r = df.loc[relapsed.study_id]
    assert r["cr1_date"] == _day(relapsed, 35) and r["relapse1_date"] == _day(relapsed, 200)
    assert r["recurrence_date"] == r["relapse1_date"] and r["recurrent_or_refractory"] == 1
    assert r["second_line_date"] == _day(relapsed, 210) and r["salvage_remission_date"] == _day(relapsed, 240)
    assert r["hsct_after_recurrence_date"] == r["hsct_date"] == _day(relapsed, 300)
    assert r["end_date"] == r["last_known_date"] == _day(relapsed, 2000) and r["dead"] == 0
    assert r["first_remission_months"] == pytest.approx(165 / (365.25 / 12))

    t = df.loc[twice.study_id]
    assert t["hsct_date"] == _day(twice, 100) and t["hsct_status"] == "CR1"  # the first HSCT, any time
    assert t["hsct_after_recurrence_date"] == _day(twice, 300) and t["hsct_after_recurrence_status"] == "NOT_CR"
    assert t["relapse1_date"] == _day(twice, 200) and t["relapse1_site"] == "CNS"
    assert t["relapse_after_hsct_date"] == _day(twice, 200)
    assert t["salvage_remission_date"] == _day(twice, 280) and t["salvage_remission"] == 1
    assert t["dead"] == 1 and t["end_date"] == t["death_date"] == _day(twice, 700)
    assert t["cause_of_death"] == "LEUKEMIA" and t["last_vital_status"] == "DEAD"
    assert (t["cns_involvement"], t["wbc_100_or_more"], t["wbc_300_or_more"]) == (1, 1, 1)

    f = df.loc[refractory.study_id]
    assert pd.isna(f["cr1_date"]) and f["induction_failure_date"] == _day(refractory, 30)
    assert f["recurrence_date"] == f["induction_failure_date"] and f["recurrent_or_refractory"] == 1
    assert f["second_line_date"] == _day(refractory, 40) and not f["salvage_evaluable"]
    assert f["age_under_3_months"] == 1
    # No follow-up contact: observed until the latest recorded date, never dropped.
    assert pd.isna(f["last_contact_date"]) and f["end_date"] == _day(refractory, 40)

    q = df.loc[quiet.study_id]
    assert q["recurrent_or_refractory"] == 0 and pd.isna(q["second_line_date"]) and pd.isna(q["hsct_date"])
    assert q["end_date"] == _day(quiet, 1500)


def test_factors_group_first_remission_and_relapse_site():
    """No CR1: induction failure; CR1 lasting < 6 months (or a NaN duration: no relapse) and
    >= 6 months; relapse site BM: isolated marrow, any other: extramedullary involved."""
    dates = pd.to_datetime([None, "2020-01-01", "2020-01-01", "2020-01-01", "2020-01-01"])
    df = pd.DataFrame(
        {
            "age_under_3_months": [1, 0, 0, 0, 1],
            "cns_involvement": [0, 1, 0, 0, 0],
            "wbc_100_or_more": [0, 0, 1, 0, 0],
            "wbc_300_or_more": [0, 0, 0, 1, 0],
            "mll_partner": ["AF4", "AF9", None, "ENL", "AF4"],
            "cr1_date": dates,
            "first_remission_months": [np.nan, 5.9, 6.0, 30.0, np.nan],
            "relapse1_date": pd.to_datetime([None, "2020-06-28", "2020-07-01", "2022-07-01", None]),
            "relapse1_site": [None, "BM", "CNS", "BM+CNS", None],
            "trial": ["Interfant-99", "Interfant-06", "Interfant-99", None, "Interfant-06"],
            "center": ["A", "B", "A", "C", "B"],
        },
        index=[10, 11, 12, 13, 14],
    )
    frame = factors(df.assign(**derived_factors(df)))
    assert list(frame.columns) == [
        "age_under_3_months",
        "cns_involvement",
        "wbc_100_or_more",
        "wbc_300_or_more",
        "mll_partner",
        "partner_af4",
        "first_remission",
        "relapse_site",
        "trial",
        "center",
    ]
    assert frame.index.equals(df.index)
    assert frame["first_remission"].tolist() == [
        "induction failure",
        "CR1 < 6 months",
        "CR1 >= 6 months",
        "CR1 >= 6 months",
        "CR1 >= 6 months",
    ]
    assert frame["relapse_site"].tolist() == [
        "induction failure",
        "isolated marrow",
        "extramedullary involved",
        "extramedullary involved",
        "induction failure",
    ]
    assert frame["partner_af4"].tolist() == [1, 0, 0, 0, 1]
    assert (
        frame["mll_partner"].tolist() == df["mll_partner"].tolist() and frame["trial"].tolist() == df["trial"].tolist()
    )
    assert frame["first_remission"].dtype == object and frame["partner_af4"].dtype == "int64"
    # The frame's columns are its own: changing them leaves the course frame as it was.
    frame.loc[10, ["mll_partner", "age_under_3_months", "center"]] = ["MLLT10", 0, "Z"]
    assert (df.loc[10, "mll_partner"], df.loc[10, "age_under_3_months"], df.loc[10, "center"]) == ("AF4", 1, "A")


def test_event_tables_number_every_record_and_flag_those_after_recurrence(cohort):
    _, twice, _, _ = cohort
    events = event_tables(Patient.objects.filter(pk=twice.pk))
    transplants = events["transplants"]
    assert list(transplants["number"]) == [1, 2]
    assert list(transplants["disease_status"]) == ["CR1", "NOT_CR"]
    assert list(transplants["after_recurrence"]) == [0, 1]
    assert {"donor", "stem_cell_source", "conditioning", "transplant_type"} <= set(transplants.columns)
    assert list(events["relapses"]["number"]) == [1, 2]
    salvage = events["salvage_lines"]
    assert list(salvage["number"]) == [1, 2] and list(salvage["after_recurrence"]) == [1, 1]
    assert len(events["follow_ups"]) == len(events["first_line_responses"]) == 1


def test_tables_are_read_with_one_query_each_and_scoped(cohort, center, django_assert_num_queries):
    patients = Patient.objects.filter(center=center)
    with django_assert_num_queries(6):  # patients + five event tables, whatever the cohort size
        tables = read_tables(patients)
    events = event_tables(tables=tables)
    in_scope = set(patients.values_list("pk", flat=True))
    assert set(tables["patients"]["patient_id"]) == in_scope
    for name, frame in events.items():
        assert set(frame["patient_id"]) <= in_scope, name
    assert len(events["transplants"]) == 3 and len(course_frame(tables=tables)) == 3


def test_tables_read_in_chunks_equal_the_rows_as_a_cut_keeps_them(cohort, monkeypatch):
    """Streamed chunk by chunk (here 2 rows a chunk), fetched at once (``stream=False``) or rebuilt from
    read_rows (a data cut's copy, through JSON): the same frames, value for value and dtype for dtype."""
    from registry import course
    from registry.cuts import snapshot

    monkeypatch.setattr(course, "CHUNK_ROWS", 2)
    streamed = read_tables()
    rows = course.read_rows()
    via_json = snapshot.rows_of(snapshot.take(Patient.objects.all())[0])
    for rebuilt in (read_tables(stream=False), course.tables_from_rows(rows), course.tables_from_rows(via_json)):
        assert streamed.keys() == rebuilt.keys()
        for name in streamed:
            pd.testing.assert_frame_equal(streamed[name], rebuilt[name], check_exact=True, obj=name)
    assert len(streamed["follow_ups"]) == 3 and streamed["follow_ups"]["lost_to_follow_up"].dtype == bool
    empty = read_tables(Patient.objects.none())
    assert all(frame.empty for frame in empty.values())
    assert empty["relapses"]["relapse_date"].dtype == "datetime64[ns]" and empty["relapses"]["patient_id"].dtype == int


@pytest.mark.django_db
def test_sql_predicates_select_the_frames_patients():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    df = course_frame()

    def selected(q):
        return set(Patient.objects.filter(q).values_list("pk", flat=True))

    assert selected(relapsed_q()) == set(df.loc[df["relapse1_date"].notna(), "patient_id"])
    assert selected(refractory_q()) == set(df.loc[df["induction_failure_date"].notna(), "patient_id"])
    assert selected(recurrent_or_refractory_q()) == set(df.loc[df["recurrent_or_refractory"] == 1, "patient_id"])
    assert 0 < len(selected(refractory_q())) < len(selected(recurrent_or_refractory_q())) < len(df)
