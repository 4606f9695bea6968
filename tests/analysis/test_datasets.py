"""Analysis data sets: population, origin, event and censoring of each endpoint (docs/domain.md)."""

from datetime import timedelta

import numpy as np
import pandas as pd
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
    same["group"] = ["a", np.nan, "b"]  # None and NaN alike
    assert datasets.fingerprint(frame) == datasets.fingerprint(same)
    assert datasets.fingerprint(frame) != datasets.fingerprint(frame.astype({"event": "float64"}))  # the dtype
    assert datasets.fingerprint(frame) != datasets.fingerprint(frame.iloc[::-1])  # the order
    assert datasets.fingerprint(frame) != datasets.fingerprint(frame.rename(columns={"group": "trial"}))
    changed = frame.copy()
    changed.loc[2, "group"] = "c"
    assert datasets.fingerprint(frame) != datasets.fingerprint(changed)
    assert datasets.fingerprint(frame) != datasets.fingerprint(frame.assign(group=["a", "x", "b"]))  # None -> a value
    assert datasets.fingerprint(frame, frame) != datasets.fingerprint(frame)


def _fingerprint(**columns):
    return datasets.fingerprint(
        pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})
    )


def test_fingerprint_of_text_columns_changes_with_any_value_or_order():
    # Few distinct texts (coded by first appearance) and all distinct texts (hashed as text).
    labels = ["AF4", "AF9", None, "AF4", "ENL"] * 300
    ids = [f"MLL96-{n:04d}" for n in range(datasets.DISTINCT_SAMPLE + 500)]
    for texts in (labels, ids):
        assert _fingerprint(t=texts) == _fingerprint(t=list(texts))
        for where in (0, 3, len(texts) - 1):
            assert _fingerprint(t=texts) != _fingerprint(t=[*texts[:where], "AF10", *texts[where + 1 :]]), where
            assert _fingerprint(t=texts) != _fingerprint(t=[*texts[:where], None, *texts[where + 1 :]]), where
        swapped = [texts[1], texts[0], *texts[2:]]
        assert _fingerprint(t=texts) != _fingerprint(t=swapped)
    assert _fingerprint(t=[*ids[:-1], None]) == _fingerprint(t=[*ids[:-1], np.nan])
    # Where the texts part: a NUL inside a text is no separator.
    assert _fingerprint(t=["a\x00", "b"]) != _fingerprint(t=["a", "\x00b"])
    assert _fingerprint(t=["a\x00", "b", None]) != _fingerprint(t=["a", "\x00b", None])
    # Values Python calls equal, of other kinds.
    assert _fingerprint(t=[True, 1]) != _fingerprint(t=[True, True])
    assert _fingerprint(t=["1", 1]) != _fingerprint(t=[1, 1])
    assert _fingerprint(t=[True, None, False]) == _fingerprint(t=[True, np.nan, False])


def test_fingerprint_of_integers_and_of_frames_built_apart():
    small = pd.DataFrame({"n": [1, 2]})
    for bits in (8, 16, 32):  # 2 and a number past int8, int16, int32 that wraps round to 2 there
        assert datasets.fingerprint(small) != datasets.fingerprint(small.assign(n=[1, 2 + 2**bits])), bits
    assert datasets.fingerprint(small) != datasets.fingerprint(small.astype("int8"))
    # One block per column or pandas' blocks per dtype: the same frame, the same fingerprint.
    columns = {
        "a": np.array([1, 2]),
        "b": np.array(["x", None], dtype=object),
        "c": np.array([1.5, 2.5]),
        "d": np.array([3, 4]),
    }
    assert datasets.fingerprint(pd.DataFrame(columns, copy=False)) == datasets.fingerprint(pd.DataFrame(columns))


def test_known_column_digests_are_used_and_the_missing_ones_added():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    digests = {}
    assert datasets.fingerprint(frame, digests=digests) == datasets.fingerprint(frame)
    assert digests == {"a": datasets.column_digest(frame["a"]), "b": datasets.column_digest(frame["b"])}
    # A digest given is taken as the column's: the caller keeps it only while the column is unchanged.
    assert datasets.fingerprint(frame, digests={"a": b"\0" * 32}) != datasets.fingerprint(frame)
    with pytest.raises(ValueError):
        datasets.fingerprint(frame, frame, digests={})


# The fingerprint of test_fingerprint_is_pinned's frame, as fingerprint's docstring defines it.
PINNED = "72b709e78a8ec400234bd773b7be0c76ddab0ddf2610361f26452ce101a9cd31"


def test_fingerprint_is_pinned():
    """The definition of the fingerprint, pinned: a change of it changes every stored run's."""
    frame = pd.DataFrame(
        {
            "patient_id": [1, 2, 3],
            "study_id": ["MLL96-0001", "MLL96-0002", "MLL96-0003"],
            "trial": ["Interfant-99", None, "Interfant-99"],
            "salvage_evaluable": pd.Series([True, None, False], dtype=object),
            "time": [12.0, np.nan, 0.0],
            "date": pd.to_datetime(["2020-01-01", None, "2021-05-06"]),
            "flag": [True, False, True],
        }
    )
    assert datasets.fingerprint(frame) == PINNED


def test_endpoint_frames_are_their_own(course):
    """The frames hold new arrays: nothing is shared with the course frame."""
    for endpoint in (
        datasets.os_after_second_line,
        datasets.os_from_diagnosis,
        datasets.efs_from_diagnosis,
        datasets.relapse_incidence,
        datasets.non_relapse_mortality_after_hsct,
    ):
        frame = endpoint(course)
        for name, values in frame.items():
            for source in course.columns:
                assert not np.shares_memory(values.to_numpy(), course[source].to_numpy()), (endpoint, name, source)
        assert frame.index.equals(pd.RangeIndex(len(frame)))
        assert frame["study_id"].dtype == object and frame["first_remission"].dtype == object
        assert frame["time"].dtype == "float64" and frame["patient_id"].dtype == "int64"


def test_extraction_is_a_fixed_number_of_queries(course, django_assert_max_num_queries, center):
    for _ in range(10):
        p = PatientFactory(center=center)
        FirstLineResponseFactory(patient=p)
    with django_assert_max_num_queries(6):
        course_frame()


def test_text_columns_are_coded_as_pd_factorize_codes_them():
    """``_factorize`` codes objects by address first: the same codes and distinct values as
    ``pd.factorize`` whatever the column holds (equal texts held apart, None and NaN, True and 1,
    0.0 and -0.0, an empty column); its distinct objects hold every kind of value the column does."""
    rng = np.random.default_rng(7)
    pool = ["MLL-AF4", "MLL-AF9", None, np.nan, float("nan"), "日本", True, 1, 1.0, 0.0, -0.0, ""]
    for _ in range(300):
        values = np.empty(int(rng.integers(0, 40)), dtype=object)
        for i, j in enumerate(rng.integers(0, len(pool), len(values))):
            value = pool[j]
            # Half the texts are new objects with the same text, as a column not read from the course table.
            values[i] = "".join(list(value)) if isinstance(value, str) and rng.random() < 0.5 else value
        expected_codes, expected = pd.factorize(values)
        codes, distinct, objects = datasets._objects_factorized(values)
        assert np.array_equal(codes, expected_codes), values
        assert [repr(v) for v in distinct] == [repr(v) for v in expected], values
        # The distinct objects hold every kind of value the column does: the kind check reads them.
        assert {type(v) for v in objects} == {type(v) for v in values}, values
        assert datasets._mixed(objects) == datasets._mixed(values), values
