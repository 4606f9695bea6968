"""Simon-Makuch curves: Kaplan-Meier estimates for a time-dependent state (e.g. HSCT).

A patient counts in the "not transplanted" curve until the day of the transplant and in the
"transplanted" curve from then on, so the time spent waiting for a transplant is never credited
to it (no immortal-time bias). This is the product-limit estimator on counting-process data
(start, stop], one curve per state, as R ``survfit(Surv(start, stop, event) ~ state)``: at
each distinct stop time the risk set is the rows with start < t <= stop. Greenwood standard
errors and R's "log" confidence intervals as in :mod:`analysis.stats.kaplan_meier`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import DEFAULT_TIMES, StatsInputError, check_durations, check_events, clean, to_years
from .kaplan_meier import DEFAULT_RISK_TIMES, _curve, _z


def _steps(start: np.ndarray, stop: np.ndarray, event: np.ndarray) -> dict:
    """Product-limit steps of (start, stop] data at each distinct stop time, in O(n log n)."""
    times = np.unique(stop)
    starts, stops = np.sort(start), np.sort(stop)
    # rows with stop >= t minus rows with start >= t: those with start < t <= stop
    n_risk = (len(stops) - np.searchsorted(stops, times, side="left")) - (
        len(starts) - np.searchsorted(starts, times, side="left")
    )
    at = np.searchsorted(times, stop)
    n_event = np.bincount(at, weights=event, minlength=len(times))
    n_censor = np.bincount(at, weights=1 - event, minlength=len(times))
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n_risk > 0, 1 - n_event / n_risk, 1.0))
        var_log = np.cumsum(np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0))
    return {
        "time": times.astype(float),
        "n_risk": n_risk.astype(float),
        "n_event": n_event,
        "n_censor": n_censor,
        "surv": surv,
        "var_log": var_log,
    }


def _at_risk(start: np.ndarray, stop: np.ndarray, t: float) -> int:
    """Rows at risk at display time t, as a KM risk table counts them: start < t <= stop (at
    t = 0: the rows that start there)."""
    if t == 0:
        return int((start == 0).sum())
    return int(((start < t) & (stop >= t)).sum())


def simon_makuch(
    frame: pd.DataFrame,
    start_col: str,
    stop_col: str,
    event_col: str,
    state_col: str,
    *,
    id_col: str | None = None,
    times=DEFAULT_TIMES,
    conf_level: float = 0.95,
    risk_times=DEFAULT_RISK_TIMES,
) -> dict:
    """Simon-Makuch survival curves by a time-dependent 0/1 state.

    Parameters
    ----------
    frame : pandas.DataFrame
        Counting-process rows (as :func:`analysis.stats.counting_process_frame` makes them):
        ``start`` < ``stop`` in days, ``event`` 1 if the event happened at ``stop``, and the
        state during (start, stop].
    id_col : str, optional
        Patient identifier, to count the patients ever in each state (``n``); else rows.
    times : sequence of float
        Fixed times (days) for the estimates.

    Returns
    -------
    dict
        ``{"groups": {state: curve}, "warnings": [...]}``; each curve has ``n``, ``table`` (time,
        n_at_risk, n_event, n_censor, survival, std_err, lower, upper), ``at_times``, ``median``,
        ``risk_table`` (rows at risk just after each display time) and ``n_events``.
    """
    missing = [c for c in (start_col, stop_col, event_col, state_col, id_col) if c and c not in frame.columns]
    if missing:
        raise StatsInputError(f"column(s) not in the data: {missing}")
    start = check_durations(frame[start_col], start_col)
    stop = check_durations(frame[stop_col], stop_col)
    event = check_events(frame[event_col], event_col)
    if np.any(stop <= start):
        raise StatsInputError(f"column '{stop_col}' must be greater than '{start_col}' in every row")
    state = frame[state_col].to_numpy()
    z = _z(conf_level)
    groups = {}
    for level in sorted(pd.unique(state)):
        rows = state == level
        steps = _steps(start[rows], stop[rows], event[rows].astype(float))
        curve, _ = _curve(steps, z, times)
        s, e = start[rows], stop[rows]
        groups[str(level)] = {
            "n": int(frame.loc[rows, id_col].nunique()) if id_col else int(rows.sum()),
            "n_events": int(event[rows].sum()),
            **curve,
            "risk_table": [
                {"time": float(t), "time_years": to_years(float(t)), "n_at_risk": _at_risk(s, e, float(t))}
                for t in risk_times
            ],
            "censor_times": np.unique(e[event[rows] == 0]),
        }
    return clean({"groups": groups, "method": "Simon-Makuch", "warnings": []})
