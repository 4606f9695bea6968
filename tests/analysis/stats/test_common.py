"""Package-level rules: no Django, JSON-clean output, clear input errors."""

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

import analysis.stats as stats
from analysis.stats._common import StatsInputError, check_durations, clean

PACKAGE_DIR = Path(stats.__file__).resolve().parent


def test_no_django_imports():
    for path in PACKAGE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] in {"django", "registry"} for n in names), f"{path.name} imports {names}"


def test_error_is_value_error():
    assert issubclass(StatsInputError, ValueError)


def test_clean_replaces_nan_and_numpy_types():
    out = clean({"a": np.float64(np.nan), "b": np.array([1.5, np.inf]), "c": np.int64(3), "d": (np.bool_(True),)})
    assert out == {"a": None, "b": [1.5, None], "c": 3, "d": [True]}
    assert type(out["c"]) is int


def test_clean_replaces_nan_and_inf_in_plain_lists():
    # lists of Python floats are checked in bulk: every NaN/inf must still become None
    out = clean([1.5, math.nan, math.inf, -math.inf, None, 0.0])
    assert out == [1.5, None, None, None, None, 0.0]
    assert clean((math.nan,)) == [None]
    assert clean([3, True, "x", None]) == [3, True, "x", None]
    assert clean([1.5, 2]) == [1.5, 2] and type(clean([1.5, 2])[1]) is int


def test_clean_nested_structures():
    value = {
        1: [[0.5, math.nan], (np.float64(math.inf), np.int64(2))],
        "curve": {"survival": [1.0, 0.5, math.nan], "n": np.array([3, 2])},
        "matrix": np.array([[1.0, np.nan], [np.inf, 2.0]]),
        "labels": np.array(["a", None], dtype=object),
    }
    out = clean(value)
    assert out == {
        "1": [[0.5, None], [None, 2]],
        "curve": {"survival": [1.0, 0.5, None], "n": [3, 2]},
        "matrix": [[1.0, None], [None, 2.0]],
        "labels": ["a", None],
    }
    assert type(out["1"][1][1]) is int
    assert json.dumps(out, allow_nan=False)
    assert clean(out) == out  # cleaning twice changes nothing


def test_check_durations_messages():
    with pytest.raises(StatsInputError, match="'days'.*missing"):
        check_durations([1, math.nan], "days")
    with pytest.raises(StatsInputError, match="one-dimensional"):
        check_durations([[1, 2]], "days")


def test_public_api():
    for name in stats.__all__:
        assert hasattr(stats, name)


def test_importing_the_package_loads_no_django():
    import subprocess
    import sys

    code = (
        "import sys, analysis.stats; "
        "sys.exit(1 if any(m.split('.')[0] in {'django', 'registry'} for m in sys.modules) else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE_DIR.parents[1], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or "analysis.stats pulled in django or registry"
