"""Corrections for immortal-time bias: the time-dependent Cox model and the landmark analysis."""

import numpy as np
import pytest

from analysis import datasets
from analysis.analyses import ANALYSES
from analysis.analyses.time_dependent import LANDMARK_DAYS
from tests.analysis.report_data import os_frame, time_dependent_results


@pytest.fixture(scope="module")
def frame():
    return os_frame()


@pytest.fixture(scope="module")
def results(frame):
    return time_dependent_results(frame)


def test_the_model_is_fitted_on_the_counting_process_split(frame, results):
    model = results["time_dependent_cox"]["model"]
    cp = datasets.counting_process(frame)
    assert model["n"] == len(cp) and model["n_subjects"] == (frame["time"] > 0).sum()
    assert [t["term"] for t in model["terms"]] == ["hsct", "salvage_remission", "age_under_3_months", "cns_involvement"]
    # HSCT switches on at its day: a patient transplanted on day 90 is untransplanted before.
    split = cp[cp["patient_id"] == frame.loc[frame["hsct_days"].between(1, frame["time"] - 1), "patient_id"].iloc[0]]
    assert split["hsct"].tolist()[0] == 0 and split["hsct"].tolist()[-1] == 1


def test_the_landmark_keeps_only_patients_alive_at_the_landmark(frame, results):
    landmark = results["landmark"]
    assert landmark["landmark_days"] == LANDMARK_DAYS
    assert landmark["n"] == (frame["time"] > LANDMARK_DAYS).sum()
    assert landmark["n"] + landmark["n_excluded"] == len(frame)
    by_hsct = landmark["by_hsct"]["curves"]["groups"]
    alive = frame[frame["time"] > LANDMARK_DAYS]
    assert by_hsct["1"]["n"] == (alive["hsct_days"] <= LANDMARK_DAYS).sum()


def test_nobody_at_the_landmark_gives_errors_in_place_not_a_failure(frame):
    results = time_dependent_results(frame.assign(time=np.minimum(frame["time"], LANDMARK_DAYS)))
    landmark = results["landmark"]
    assert landmark["n"] == 0 and landmark["n_excluded"] == len(frame)
    assert landmark["cox"] == {"error": "no rows: a Cox model needs data"}
    assert landmark["by_hsct"]["curves"]["groups"] == {}
    assert "error" not in results["time_dependent_cox"]["model"]


def test_figures_and_report_section(results):
    analysis = ANALYSES["time_dependent"]
    assert set(analysis.figures(results)) == {"simon_makuch_by_hsct", "landmark_by_hsct", "landmark_by_remission"}
    [section] = analysis.report_sections({"time_dependent": results})
    assert section.key == "corrections"
    assert [t.name for t in section.tables] == ["time_dependent_cox", "landmark", "landmark_cox"]


def test_simon_makuch_curves_count_a_patient_untransplanted_until_hsct():
    frame = os_frame()
    cp = datasets.counting_process(frame)
    results = ANALYSES["time_dependent"].compute({"frame": frame, "counting_process": cp})
    curves = results["simon_makuch"]["curves"]["groups"]
    followed = frame["time"] > 0  # 0-day follow-up has no interval
    transplanted = followed & frame["hsct_days"].notna() & (frame["hsct_days"] < frame["time"])
    waited = followed & ~(frame["hsct_days"] == 0)  # untransplanted for a while (or for good)
    # the transplanted curve holds the patients transplanted during follow-up, from that day on
    assert curves["1"]["n"] == int(transplanted.sum()) and curves["0"]["n"] == int(waited.sum())
    assert curves["0"]["n_events"] + curves["1"]["n_events"] == int(frame.loc[frame["time"] > 0, "event"].sum())
