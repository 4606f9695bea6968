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
        change_col="days_to_hsct",
        status_col="transplanted",
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
    out = counting_process_frame(
        frame, id_col="id", duration_col="duration", event_col="event", change_col="chg", status_col="s"
    )
    assert out[["id", "start", "stop", "s"]].values.tolist() == [[1, 0, 10, 1]]
