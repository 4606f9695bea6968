"""Landmark and counting-process helpers."""

import numpy as np
import pandas as pd
import pytest

from analysis.stats import StatsInputError, counting_process_frame, cox_time_varying, landmark_frame


@pytest.fixture
def cohort():
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "duration": [100, 200, 300, 400, 180],
            "event": [1, 0, 1, 1, 1],
            "days_to_hsct": [np.nan, 150, 250, 50, 180],
        }
    )


def test_landmark_keeps_patients_in_follow_up_and_resets_clock(cohort):
    out = landmark_frame(cohort, 180, status_from={"hsct_by_landmark": "days_to_hsct"})
    assert out["id"].tolist() == [2, 3, 4]  # 1 died at 100, 5 died at the landmark
    assert out["duration"].tolist() == [20, 120, 220]
    # status as of day 180: patient 3's transplant on day 250 does not count
    assert out["hsct_by_landmark"].tolist() == [1, 0, 1]
    assert out.attrs["n_excluded"] == 2
    assert (out["landmark_days"] == 180).all()
    assert cohort["duration"].tolist() == [100, 200, 300, 400, 180]  # input untouched


def test_landmark_bad_input(cohort):
    with pytest.raises(StatsInputError, match="landmark_days"):
        landmark_frame(cohort, -1)
    with pytest.raises(StatsInputError, match="not in the data"):
        landmark_frame(cohort, 10, status_from={"x": "nope"})
    with pytest.raises(StatsInputError, match="negative"):
        landmark_frame(cohort.assign(days_to_hsct=-5), 10, status_from={"x": "days_to_hsct"})


def test_counting_process_split(cohort):
    out = counting_process_frame(
        cohort,
        id_col="id",
        duration_col="duration",
        event_col="event",
        changes={"transplanted": "days_to_hsct"},
    )
    rows = [tuple(r) for r in out[["id", "start", "stop", "event", "transplanted"]].itertuples(index=False)]
    assert rows == [
        (1, 0, 100, 1, 0),
        (2, 0, 150, 0, 0),
        (2, 150, 200, 0, 1),
        (3, 0, 250, 0, 0),
        (3, 250, 300, 1, 1),
        (4, 0, 50, 0, 0),
        (4, 50, 400, 1, 1),
        (5, 0, 180, 1, 0),  # transplant on the day of death: never at risk as transplanted
    ]
    fit = cox_time_varying(out, "id", "start", "stop", "event", ["transplanted"])
    assert fit["n"] == 8 and fit["n_subjects"] == 5


def test_counting_process_zero_day_change_and_zero_duration():
    frame = pd.DataFrame({"id": [1, 2], "duration": [10, 0], "event": [1, 1], "chg": [0, np.nan]})
    out = counting_process_frame(frame, id_col="id", duration_col="duration", event_col="event", changes={"s": "chg"})
    assert out[["id", "start", "stop", "s"]].values.tolist() == [[1, 0, 10, 1]]


def test_counting_process_splits_at_every_change_of_several_covariates():
    frame = pd.DataFrame(
        {
            "id": [7, 3, 5, 9],
            "duration": [290.0, 955.0, 100.0, 60.0],
            "event": [1, 0, 1, 0],
            "hsct": [90.0, np.nan, 40.0, 0.0],
            "remission": [30.0, np.nan, 40.0, 80.0],
            "age": [1, 0, 1, 0],
        }
    )
    out = counting_process_frame(
        frame,
        id_col="id",
        duration_col="duration",
        event_col="event",
        changes={"hsct": "hsct", "remission": "remission"},
        keep_columns=["age"],
    )
    assert out.columns.tolist() == ["id", "start", "stop", "event", "hsct", "remission", "age"]
    assert out.values.tolist() == [
        [7, 0, 30, 0, 0, 0, 1],
        [7, 30, 90, 0, 0, 1, 1],
        [7, 90, 290, 1, 1, 1, 1],  # only the last interval carries the death
        [3, 0, 955, 0, 0, 0, 0],
        [5, 0, 40, 0, 0, 0, 1],  # two changes on one day: one cut
        [5, 40, 100, 1, 1, 1, 1],
        [9, 0, 60, 0, 1, 0, 0],  # HSCT on day 0 counts from the start; remission after the end never
    ]
    assert out["start"].dtype == float and out["stop"].dtype == float


def test_counting_process_needs_a_covariate_and_numeric_days(cohort):
    args = {"id_col": "id", "duration_col": "duration", "event_col": "event"}
    with pytest.raises(StatsInputError, match="at least one"):
        counting_process_frame(cohort, changes={}, **args)
    with pytest.raises(StatsInputError, match="numeric days"):
        counting_process_frame(cohort.assign(days_to_hsct="soon"), changes={"tx": "days_to_hsct"}, **args)
