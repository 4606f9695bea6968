"""The cohort summary: the counts of the paper's 'Results' paragraph, and the outcome table."""

import pandas as pd
import pytest

from analysis.analyses import ANALYSES, to_python
from analysis.analyses.cohort_summary import cohort_summary, outcome_table
from tests.analysis.report_data import os_frame, os_results

DAY = pd.Timestamp("1997-01-01")
NAT = pd.NaT


def course():
    """Five patients: two relapsed, one induction failure, two in continuous remission."""
    return pd.DataFrame(
        {
            "trial": ["MLL96", "MLL96", "MLL98", "MLL98", "MLL98"],
            "center": ["A", "B", "A", "A", "B"],
            "relapse1_date": [DAY, DAY, NAT, NAT, NAT],
            "induction_failure_date": [NAT, NAT, DAY, NAT, NAT],
            "recurrent_or_refractory": [1, 1, 1, 0, 0],
            "first_remission_months": [3.0, 9.0, None, None, None],
            "second_line_date": [DAY, DAY, DAY, NAT, NAT],
            "salvage_evaluable": [True, True, False, None, None],
            "salvage_remission": [1, 0, 0, 0, 0],
            "hsct_after_recurrence_date": [DAY, NAT, DAY, NAT, NAT],
            "hsct_after_recurrence_status": ["CR2+", None, "NOT_CR", None, None],
            "dead": [1, 0, 1, 0, 0],
        }
    )


def test_counts_of_the_results_paragraph():
    results = to_python(cohort_summary(course()))
    assert results["schema"] == "cohort_summary/1"
    assert results["n_registered"] == 5
    assert results["by_trial"] == {"MLL96": 2, "MLL98": 3} and results["by_center"] == {"A": 3, "B": 2}
    assert (results["n_relapsed"], results["n_induction_failure"], results["n_recurrent_or_refractory"]) == (2, 1, 3)
    assert results["n_with_second_line"] == 3
    assert results["first_remission_months"] == {"n": 2, "median": 6.0, "min": 3.0, "max": 9.0}
    assert results["salvage_remission"]["successes"] == 1 and results["salvage_remission"]["n"] == 2
    assert results["transplants_after_recurrence"] == {"n": 2, "in_remission": 1, "not_in_remission": 1, "unknown": 0}
    assert results["n_dead"] == 2


def test_the_recurrent_or_refractory_group_is_the_course_frames():
    frame = course().assign(recurrent_or_refractory=[1, 0, 0, 0, 0])
    results = cohort_summary(frame)
    assert results["n_recurrent_or_refractory"] == 1 and results["n_with_second_line"] == 1


def test_no_evaluable_salvage_response_is_an_error_not_a_failure():
    frame = course().assign(salvage_evaluable=False)
    assert "error" in cohort_summary(frame)["salvage_remission"]


@pytest.fixture(scope="module")
def frame():
    return os_frame()


def test_outcome_table_from_the_cohort_summary(frame):
    summary = {
        "n_registered": 80,
        "n_relapsed": 34,
        "n_induction_failure": 5,
        "n_recurrent_or_refractory": 39,
        "first_remission_months": {"n": 34, "median": 5.0, "min": 0.2, "max": 28.0},
        "salvage_remission": {"successes": 15, "n": 37, "percent": 40.54, "lower": 0.2475, "upper": 0.579},
        "transplants_after_recurrence": {"n": 23, "in_remission": 9, "not_in_remission": 12, "unknown": 2},
    }
    table = outcome_table(summary, os_results(frame))
    cells = {r.cells[0]: r.cells[1:] for r in table.rows}
    assert cells["Remission after salvage therapy"] == ["15/37 (40.5%)", "95% CI 24.8% to 57.9% (exact)"]
    assert cells["HSCT not in remission"][0] == "12"
    assert "5-year OS after second-line treatment" in cells


def test_its_section_shows_the_table_and_the_os_curve(frame):
    analysis = ANALYSES["cohort_summary"]
    results = to_python(analysis.compute(analysis.inputs(course())))
    [section] = analysis.report_sections({"cohort_summary": results, "os_after_second_line": os_results(frame)})
    assert section.key == "outcomes" and section.analyses == ["cohort_summary", "os_after_second_line"]
    [table] = section.tables
    assert table.sources == ("cohort_summary", "os_after_second_line")
    assert [f.name for f in section.figures] == ["os_overall"]
    [alone] = analysis.report_sections({"cohort_summary": results})
    assert alone.tables[0].sources == ("cohort_summary",) and not alone.figures
