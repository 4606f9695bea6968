"""The analysis registry: each analysis declared once, found by runs, figures and the report."""

from pathlib import Path

import numpy as np
import pytest

from analysis import analyses, runs
from analysis.analyses import base

PACKAGE = Path(analyses.__file__).resolve().parent


def test_every_module_declares_one_analysis_in_its_place():
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "base"))
    assert sorted(analyses.ANALYSES) == modules
    assert list(analyses.ANALYSES) == [
        "patient_characteristics",
        "cohort_summary",
        "os_after_second_line",
        "salvage_regimens",
        "competing_risks",
        "time_dependent",
        "outcomes_from_diagnosis",
    ]
    orders = [a.order for a in analyses.ANALYSES.values()]
    assert orders == sorted(set(orders))
    assert runs.ANALYSES is analyses.ANALYSES


def test_the_report_reads_every_analysis_with_a_section():
    assert analyses.REPORT_ANALYSES == tuple(analyses.ANALYSES)


def test_an_analysis_cannot_be_declared_twice():
    existing = analyses.ANALYSES["cohort_summary"]
    with pytest.raises(ValueError, match="declared twice"):
        base.register(existing)
    assert analyses.ANALYSES["cohort_summary"] is existing


def test_the_code_version_covers_every_module_that_shapes_results_or_figures():
    hashed = set(runs.code_files())
    assert {f"analyses/{p.name}" for p in PACKAGE.glob("*.py")} <= hashed
    assert {
        "datasets.py",
        "figures.py",
        "svg.py",
        "runs.py",
        "stats/landmark.py",
        "stats/cox_time_varying.py",
    } <= hashed
    assert not hashed & {"reports.py", "report_files.py", "views.py", "admin.py"}


def test_an_analysis_without_figures_draws_none():
    assert analyses.figure_specs("cohort_summary", {}) == {}
    assert analyses.figure_specs("no_such_analysis", {}) == {}
    assert analyses.ANALYSES["patient_characteristics"].draw({}) == {}


def test_failed_estimates_become_errors_in_the_results():
    def fails():
        raise base.StatsInputError("no events")

    assert base.guard(fails) == {"error": "no events"}
    assert base.median_range([None, None]) == {"n": 0, "median": None, "min": None, "max": None}
    assert base.to_python({1: [float("nan"), np.int64(3)]}) == {"1": [None, 3]}
    # A column of floats alone, of floats and None, each checked in bulk.
    assert base.to_python([[1.5, float("inf")], [1.5, 2.0], [None, float("nan"), 0.5]]) == [
        [1.5, None],
        [1.5, 2.0],
        [None, None, 0.5],
    ]
    # Values alone: as they are, except what JSON cannot hold.
    plain = {"p": 0.03, "n": 12, "ok": True, "label": "MLL96", "none": None}
    assert base.to_python({**plain, "hr": float("inf"), "z": np.float64("nan")}) == {**plain, "hr": None, "z": None}
    assert type(base.to_python({"n": np.int64(3)})["n"]) is int
