"""Input checks and JSON helpers shared by the statistics modules (no Django here)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365.25
DEFAULT_TIMES = (365.25, 1095.75, 1826.25)  # 1, 3 and 5 years in days


class StatsInputError(ValueError):
    """The data given to a statistics function cannot be analysed (message names the column)."""


# Element types that clean() returns unchanged, and those a list can hold to be checked in bulk.
_PLAIN_TYPES = frozenset({int, bool, str, type(None)})
_FLOAT_TYPES = frozenset({float, type(None)})


def clean(value):
    """Return ``value`` as plain JSON-serialisable Python, with NaN / inf replaced by ``None``.

    Dicts get str keys, numpy scalars and arrays become Python numbers and lists. A list of
    Python floats and None, or of ints, bools, strings and None (most of a result, and all of
    it when cleaned a second time), is checked in bulk rather than element by element.
    """
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        types = set(map(type, value))
        if types <= _PLAIN_TYPES:
            return list(value)
        if types <= _FLOAT_TYPES:  # None becomes NaN here, and stays None below
            return _none_where_not_finite(list(value), np.array(value, dtype=float))
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            return clean(value.tolist())
        if value.dtype.kind == "f":
            return _none_where_not_finite(value.tolist(), value)
        if value.dtype.kind in "iub":
            return value.tolist()
        return clean(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _none_where_not_finite(values: list, numbers: np.ndarray) -> list:
    """``values`` with None at the positions where ``numbers`` (the same values as floats) is
    NaN or infinite."""
    for i in np.flatnonzero(~np.isfinite(numbers)).tolist():
        values[i] = None
    return values


def to_years(days):
    """Days to years (365.25 days a year); ``None`` stays ``None``."""
    return None if days is None else days / DAYS_PER_YEAR


def as_float_array(values, name: str) -> np.ndarray:
    """A 1-d float array; raises :class:`StatsInputError` naming ``name`` for text or NaN."""
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy()
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(f"column '{name}' must be numeric ({exc})") from None
    if arr.ndim != 1:
        raise StatsInputError(f"column '{name}' must be one-dimensional, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise StatsInputError(
            f"column '{name}' has {int(bad.sum())} missing or infinite value(s) "
            f"(first at position {int(np.flatnonzero(bad)[0])}); drop or impute them first"
        )
    return arr


def check_durations(values, name: str = "duration") -> np.ndarray:
    arr = as_float_array(values, name)
    if (arr < 0).any():
        raise StatsInputError(
            f"column '{name}' has {int((arr < 0).sum())} negative value(s) (min {arr.min():g}); "
            "durations must be >= 0 days"
        )
    return arr


def check_events(values, name: str = "event", allowed: Iterable[int] = (0, 1)) -> np.ndarray:
    arr = as_float_array(values, name)
    allowed = tuple(allowed)
    bad = ~np.isin(arr, allowed)
    if bad.any():
        examples = sorted(set(arr[bad].tolist()))[:5]
        raise StatsInputError(f"column '{name}' must contain only {', '.join(map(str, allowed))}; found {examples}")
    return arr.astype(int)


def check_same_length(**arrays) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"'{k}' has {v}" for k, v in lengths.items())
        raise StatsInputError(f"columns have different lengths: {detail}")
    return next(iter(lengths.values()), 0)


def check_groups(values, name: str = "group") -> np.ndarray:
    """Group labels as an object array; missing labels are an error."""
    if isinstance(values, (pd.Series, pd.Index, pd.Categorical)):
        ser = pd.Series(values)
    else:
        ser = pd.Series(list(values), dtype=object)
    if ser.isna().any():
        raise StatsInputError(f"column '{name}' has {int(ser.isna().sum())} missing value(s)")
    return ser.astype(object).to_numpy()


def group_levels(values, groups: np.ndarray) -> tuple[list, list]:
    """Levels in display order (categorical order if given, else sorted) and the empty ones."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        levels = list(values.cat.categories)
    elif isinstance(values, pd.Categorical):
        levels = list(values.categories)
    else:
        try:
            levels = sorted(pd.unique(groups).tolist())
        except TypeError:  # mixed types: order of first appearance
            levels = pd.unique(groups).tolist()
    present = set(pd.unique(groups).tolist())
    empty = [lv for lv in levels if lv not in present]
    return [lv for lv in levels if lv in present], empty
