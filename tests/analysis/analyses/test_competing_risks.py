"""Competing risks: cumulative incidence of relapse from CR1 and non-relapse mortality after HSCT."""

import numpy as np
import pandas as pd
import pytest

from analysis import stats
from analysis.analyses import ANALYSES, to_python
from analysis.analyses.competing_risks import competing_risks


def cif_frame(n, seed, trials=("MLL96", "MLL98")):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "time": rng.integers(1, 2500, n).astype(float),
            "event_type": rng.choice([0, 1, 2], n, p=[0.4, 0.4, 0.2]),
            "trial": rng.choice(trials, n),
        }
    )


@pytest.fixture(scope="module")
def frames():
    return cif_frame(60, 1), cif_frame(20, 2)


@pytest.fixture(scope="module")
def results(frames):
    return to_python(competing_risks(*frames))


def test_relapse_incidence_by_trial_with_grays_test(frames, results):
    relapse_frame, _ = frames
    relapse = results["relapse_incidence"]
    assert results["schema"] == "competing_risks/1"
    assert relapse["n"] == len(relapse_frame) and relapse["group"] == "trial"
    assert set(relapse["by_group"]) == {"MLL96", "MLL98"}
    direct = stats.grays_test(relapse_frame["time"], relapse_frame["event_type"], relapse_frame["trial"])
    assert relapse["grays_test"]["p"] == pytest.approx(direct["p"])


def test_non_relapse_mortality_is_overall_only(frames, results):
    nrm = results["non_relapse_mortality"]
    assert nrm["n"] == len(frames[1]) and nrm["competing"] == "relapse"
    assert "by_group" not in nrm and "error" not in nrm["overall"]


def test_no_transplanted_patient_leaves_the_relapse_incidence_alone(frames, results):
    empty = to_python(competing_risks(frames[0], frames[1].iloc[:0]))
    assert empty["non_relapse_mortality"]["n"] == 0
    assert empty["non_relapse_mortality"]["overall"]["n_events"] == {"0": 0, "1": 0, "2": 0}
    assert empty["relapse_incidence"] == results["relapse_incidence"]


def test_figures_and_report_section(results):
    analysis = ANALYSES["competing_risks"]
    assert set(analysis.figures(results)) == {
        "relapse_incidence",
        "relapse_incidence_by_trial",
        "non_relapse_mortality",
    }
    [section] = analysis.report_sections({"competing_risks": results})
    assert section.key == "competing" and [t.name for t in section.tables] == ["competing_risks"]
    rows = {r.cells[0]: r.cells for r in section.tables[0].rows}
    assert rows["All patients in CR1"][1] == str(results["relapse_incidence"]["n"])
    assert len(section.figures) == 3
