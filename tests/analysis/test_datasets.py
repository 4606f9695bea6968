"""Analysis data sets: population, origin, event and censoring of each endpoint (docs/domain.md)."""

from datetime import timedelta

import pytest

from analysis import datasets
from registry.course import course_frame
from tests.factories import (
    FirstLineResponseFactory,
    FollowUpFactory,
    PatientFactory,
    RelapseFactory,
    SalvageLineFactory,
    TransplantFactory,
)

pytestmark = pytest.mark.django_db


def days(n):
    return timedelta(days=n)


@pytest.fixture
def relapsed_then_died(center):
    """CR1 day 35, relapse day 200, salvage day 210 -> CR day 240, HSCT day 300, death day 500."""
    p = PatientFactory(center=center, study_id="MLL96-0001")
    dx = p.diagnosis_date
    FirstLineResponseFactory(patient=p, assessment_date=dx + days(35))
    RelapseFactory(patient=p, relapse_date=dx + days(200), site="CNS")
    SalvageLineFactory(patient=p, start_date=dx + days(210), response="CR", response_date=dx + days(240))
    TransplantFactory(patient=p, transplant_date=dx + days(300), disease_status="CR2+")
    FollowUpFactory(
        patient=p,
        contact_date=dx + days(500),
        vital_status="DEAD",
        death_date=dx + days(500),
        cause_of_death="LEUKEMIA",
    )
    return p


@pytest.fixture
def refractory_alive(center):
    """Induction failure day 40, salvage day 45 (no response), alive at day 1000."""
    p = PatientFactory(center=center, study_id="MLL96-0002", cns_status="CNS3")
    dx = p.diagnosis_date
    FirstLineResponseFactory(patient=p, outcome="INDUCTION_FAILURE", assessment_date=dx + days(40))
    SalvageLineFactory(patient=p, start_date=dx + days(45), response="NR", response_date=dx + days(80))
    FollowUpFactory(patient=p, contact_date=dx + days(1000))
    return p


@pytest.fixture
def in_cr1_dead_in_remission(center):
    p = PatientFactory(center=center, study_id="MLL96-0003")
    dx = p.diagnosis_date
    FirstLineResponseFactory(patient=p, assessment_date=dx + days(30))
    FollowUpFactory(
        patient=p, contact_date=dx + days(90), vital_status="DEAD", death_date=dx + days(90), cause_of_death="INFECTION"
    )
    return p


@pytest.fixture
def course(relapsed_then_died, refractory_alive, in_cr1_dead_in_remission):
    return course_frame().set_index("study_id", drop=False)


def row(frame, study_id):
    return frame.set_index("study_id").loc[study_id]


def test_os_after_second_line_starts_at_salvage_and_counts_only_recurrent_or_refractory(course):
    frame = datasets.os_after_second_line(course)
    assert sorted(frame["study_id"]) == ["MLL96-0001", "MLL96-0002"]
    assert row(frame, "MLL96-0001")[["time", "event", "salvage_remission", "hsct", "refractory"]].tolist() == [
        290,
        1,
        1,
        1,
        0,
    ]
    assert row(frame, "MLL96-0002")[["time", "event", "salvage_remission", "hsct", "refractory"]].tolist() == [
        955,
        0,
        0,
        0,
        1,
    ]
    assert row(frame, "MLL96-0002")["cns_involvement"] == 1
    assert row(frame, "MLL96-0001")["hsct_days"] == 90
    assert row(frame, "MLL96-0001")["salvage_remission_days"] == 30


def test_os_and_efs_from_diagnosis(course):
    os_ = datasets.os_from_diagnosis(course)
    efs = datasets.efs_from_diagnosis(course)
    assert row(os_, "MLL96-0001")[["time", "event"]].tolist() == [500, 1]
    assert row(os_, "MLL96-0002")[["time", "event"]].tolist() == [1000, 0]
    # EFS: relapse at 200; induction failure is an event at day 0; death in CR1 at 90.
    assert row(efs, "MLL96-0001")[["time", "event"]].tolist() == [200, 1]
    assert row(efs, "MLL96-0002")[["time", "event"]].tolist() == [0, 1]
    assert row(efs, "MLL96-0003")[["time", "event"]].tolist() == [90, 1]


def test_relapse_incidence_has_death_in_remission_as_competing_event(course):
    frame = datasets.relapse_incidence(course)
    assert sorted(frame["study_id"]) == ["MLL96-0001", "MLL96-0003"]
    assert row(frame, "MLL96-0001")[["time", "event_type"]].tolist() == [165, 1]
    assert row(frame, "MLL96-0003")[["time", "event_type"]].tolist() == [60, 2]


def test_non_relapse_mortality_after_hsct(course):
    frame = datasets.non_relapse_mortality_after_hsct(course)
    assert frame["study_id"].tolist() == ["MLL96-0001"]
    assert row(frame, "MLL96-0001")[["time", "event_type"]].tolist() == [200, 1]


def test_counting_process_switches_on_the_day_of_remission_and_hsct(course):
    frame = datasets.os_after_second_line(course)
    cp = datasets.counting_process(frame)
    first = cp[cp["patient_id"] == row(frame, "MLL96-0001")["patient_id"]]
    assert first[["start", "stop", "event", "hsct", "salvage_remission"]].values.tolist() == [
        [0, 30, 0, 0, 0],
        [30, 90, 0, 0, 1],
        [90, 290, 1, 1, 1],
    ]
    second = cp[cp["patient_id"] == row(frame, "MLL96-0002")["patient_id"]]
    assert second[["start", "stop", "event", "hsct", "salvage_remission"]].values.tolist() == [[0, 955, 0, 0, 0]]


def test_first_remission_duration_in_months(course):
    assert course.loc["MLL96-0001", "first_remission_months"] == pytest.approx(165 / (365.25 / 12))


def test_fingerprint_changes_with_the_data(course, relapsed_then_died):
    from registry import services

    before = datasets.fingerprint(datasets.os_after_second_line(course_frame()))
    assert before == datasets.fingerprint(datasets.os_after_second_line(course_frame()))
    relapse = relapsed_then_died.relapses.get()
    relapse.site = "BM"
    services.save_record(user=None, record=relapse, reason="site corrected", source="test")
    after = datasets.fingerprint(datasets.os_after_second_line(course_frame()))
    assert after != before


def test_fingerprint_is_the_frames_content_and_nothing_else():
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {
            "time": [1.0, np.nan, -0.0],
            "event": [1, 0, 1],
            "date": pd.to_datetime(["2020-01-01", None, "2021-05-06"]),
            "group": ["a", None, "b"],
        }
    )
    same = frame.copy()
    same["time"] = [1.0, -np.float64("nan"), 0.0]  # another NaN, +0.0: equal data
    assert datasets.fingerprint(frame) == datasets.fingerprint(same)
    assert datasets.fingerprint(frame) != datasets.fingerprint(frame.astype({"event": "float64"}))  # the dtype
    assert datasets.fingerprint(frame) != datasets.fingerprint(frame.iloc[::-1])  # the order
    assert datasets.fingerprint(frame) != datasets.fingerprint(frame.rename(columns={"group": "trial"}))
    changed = frame.copy()
    changed.loc[2, "group"] = "c"
    assert datasets.fingerprint(frame) != datasets.fingerprint(changed)
    assert datasets.fingerprint(frame, frame) != datasets.fingerprint(frame)


def test_extraction_is_a_fixed_number_of_queries(course, django_assert_max_num_queries, center):
    for _ in range(10):
        p = PatientFactory(center=center)
        FirstLineResponseFactory(patient=p)
    with django_assert_max_num_queries(6):
        course_frame()
