"""OS and EFS of every registered patient from diagnosis, overall and by trial."""

import numpy as np
import pandas as pd
import pytest

from analysis.analyses import ANALYSES, to_python
from analysis.analyses.outcomes_from_diagnosis import outcomes_from_diagnosis


def km_frame(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "time": rng.integers(0, 3000, n).astype(float),
            "event": rng.integers(0, 2, n),
            "trial": rng.choice(["MLL96", "MLL98"], n),
        }
    )


@pytest.fixture(scope="module")
def frames():
    return km_frame(80, 4), km_frame(80, 5)


@pytest.fixture(scope="module")
def results(frames):
    return to_python(outcomes_from_diagnosis(*frames))


def test_os_and_efs_overall_and_by_trial(frames, results):
    os_frame, efs_frame = frames
    assert results["schema"] == "outcomes_from_diagnosis/1"
    assert results["os"]["n"] == len(os_frame) and results["os"]["overall"]["n_events"] == os_frame["event"].sum()
    assert results["efs"]["overall"]["n_events"] == efs_frame["event"].sum()
    groups = results["efs"]["by_trial"]["curves"]["groups"]
    assert {k: v["n"] for k, v in groups.items()} == efs_frame["trial"].value_counts().to_dict()
    assert "median_days" in results["median_follow_up"]


def test_figures_and_report_section(results):
    analysis = ANALYSES["outcomes_from_diagnosis"]
    assert set(analysis.figures(results)) == {"os_by_trial", "efs_by_trial"}
    [section] = analysis.report_sections({"outcomes_from_diagnosis": results})
    assert section.key == "diagnosis" and [f.name for f in section.figures] == ["os_by_trial", "efs_by_trial"]
    assert any("Median follow-up from diagnosis" in note for note in section.tables[0].notes)
