"""Fixtures for the statistics tests: R reference results and the CSVs they came from.

Tests that take a ``patient_case`` argument run once per patient-frame CSV that
tests/reference/survival_reference.R processed; ``cp_case`` once per counting-process CSV.
A case is ``(name, frame, r_results_for_that_file)``.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "reference"
R_RESULTS = json.loads((REFERENCE_DIR / "r_results.json").read_text())
DATASETS = R_RESULTS["datasets"]
PATIENT_NAMES = sorted(name for name, res in DATASETS.items() if "km" in res)
CP_NAMES = sorted(name for name, res in DATASETS.items() if "cox_tv" in res)


def _case(name):
    frame = pd.read_csv(REFERENCE_DIR / "data" / f"{name}.csv")
    return name, frame, DATASETS[name]


def pytest_generate_tests(metafunc):
    if "patient_case" in metafunc.fixturenames:
        metafunc.parametrize("patient_case", [_case(n) for n in PATIENT_NAMES], ids=PATIENT_NAMES)
    if "cp_case" in metafunc.fixturenames:
        metafunc.parametrize("cp_case", [_case(n) for n in CP_NAMES], ids=CP_NAMES)


def _as_array(values):
    if values is None:
        values = [None]
    if not isinstance(values, (list, tuple, np.ndarray)):
        values = [values]
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def assert_matches(actual, expected, tol, what=""):
    """Numbers (or lists) equal within absolute ``tol``; None/NaN must be None/NaN on both sides."""
    a, e = _as_array(actual), _as_array(expected)
    assert a.shape == e.shape, f"{what}: length {a.shape} != R's {e.shape}"
    assert np.array_equal(np.isnan(a), np.isnan(e)), f"{what}: missing values differ: {a} vs R {e}"
    ok = ~np.isnan(a)
    if ok.any():
        worst = float(np.max(np.abs(a[ok] - e[ok])))
        assert worst <= tol, f"{what}: max abs difference {worst:.3g} > {tol:g}\n ours {a}\n R    {e}"


@pytest.fixture
def close():
    return assert_matches


@pytest.fixture(scope="session")
def r_results():
    return R_RESULTS


def is_json_clean(obj):
    """True if ``obj`` is made of dict/list/str/int/float(finite)/bool/None only."""
    if isinstance(obj, dict):
        return all(isinstance(k, str) and is_json_clean(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(is_json_clean(v) for v in obj)
    if isinstance(obj, float):
        return math.isfinite(obj)
    return obj is None or isinstance(obj, (str, int, bool))


@pytest.fixture
def json_clean():
    def check(obj):
        assert is_json_clean(obj), "result is not plain JSON (NaN/inf or numpy types inside)"
        json.dumps(obj, allow_nan=False)

    return check


@pytest.fixture
def part():
    """``part(r, key)``: the R result ``key`` of a case, or skip if R could not compute it."""

    def get(r, key):
        value = r.get(key)
        if value is None:
            pytest.skip(f"R wrote no '{key}' for this data set (see the R script's messages)")
        return value

    return get
