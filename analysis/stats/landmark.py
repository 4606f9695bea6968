"""Helpers against immortal-time bias: landmark data sets and counting-process splitting.

Events that happen after the time origin (remission after salvage, HSCT) must not be used as
baseline covariates. Two sound alternatives are prepared here, with pure pandas:

* :func:`landmark_frame` - keep patients still in follow-up at a landmark time, restart the
  clock there, and fix covariate status as of the landmark.
* :func:`counting_process_frame` - split follow-up at the time a binary covariate switches
  from 0 to 1, giving (start, stop] rows for :func:`analysis.stats.cox_time_varying`.

All times are days from the time origin. ``NaN`` in a "days to change" column means the
change never happened (during follow-up).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import StatsInputError, as_float_array, check_durations, check_events


def _check_columns(frame, columns):
    if not isinstance(frame, pd.DataFrame):
        raise StatsInputError("frame must be a pandas DataFrame")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StatsInputError(f"column(s) not in the data: {missing}")


def _change_days(frame, col):
    """Days to the change; NaN allowed (= never), negative values are an error."""
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    text = frame[col].notna().to_numpy() & np.isnan(values)
    if text.any():
        raise StatsInputError(f"column '{col}' must be numeric days (or empty for 'never')")
    if (values[~np.isnan(values)] < 0).any():
        raise StatsInputError(f"column '{col}' has negative days; the change cannot precede the origin")
    return values


def landmark_frame(
    frame: pd.DataFrame,
    landmark_days: float,
    *,
    duration_col: str = "duration",
    event_col: str = "event",
    status_from: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Landmark data set: patients still in follow-up at ``landmark_days``, clock restarted.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient.
    landmark_days : float
        Landmark time in days from the origin (e.g. 180).
    duration_col, event_col : str
        Follow-up time (days) and event indicator (1 = event, 0 = censored).
    status_from : dict, optional
        ``{new_column: days_to_change_column}``: the new 0/1 column is 1 if the change (e.g.
        HSCT) happened on or before the landmark, else 0 - even if it happened later, which
        is the point of a landmark analysis.

    Returns
    -------
    pandas.DataFrame
        A copy with only patients whose ``duration`` is greater than the landmark (events or
        censoring at or before the landmark are excluded), ``duration`` reduced by
        ``landmark_days`` (time since the landmark), the status columns added and a
        ``landmark_days`` column. ``.attrs["n_excluded"]`` holds the number left out.
    """
    status_from = dict(status_from or {})
    _check_columns(frame, [duration_col, event_col, *status_from.values()])
    landmark = float(as_float_array([landmark_days], "landmark_days")[0])
    if landmark < 0:
        raise StatsInputError(f"landmark_days must be >= 0, got {landmark_days}")
    duration = check_durations(frame[duration_col], duration_col)
    check_events(frame[event_col], event_col)
    keep = duration > landmark
    out = frame.loc[keep].copy()
    for new_col, change_col in status_from.items():
        change = _change_days(frame, change_col)[keep]
        out[new_col] = (~np.isnan(change) & (change <= landmark)).astype(int)
    out[duration_col] = duration[keep] - landmark
    out["landmark_days"] = landmark
    out.attrs["n_excluded"] = int((~keep).sum())
    return out.reset_index(drop=True)


def counting_process_frame(
    frame: pd.DataFrame,
    *,
    id_col: str,
    duration_col: str,
    event_col: str,
    change_col: str,
    status_col: str,
    keep_columns=(),
) -> pd.DataFrame:
    """Split each patient's follow-up at the day a binary covariate switches on.

    A patient with ``change_col`` = c and 0 < c < duration gives two rows, (0, c] with status
    0 and no event, and (c, duration] with status 1 and the patient's event. Changes on day
    0 give status 1 from the start; changes at or after the end of follow-up (or NaN) leave
    status 0 throughout.

    Returns
    -------
    pandas.DataFrame
        Columns ``id_col``, ``start``, ``stop``, ``event_col``, ``status_col`` and
        ``keep_columns`` (baseline values repeated), ready for
        :func:`analysis.stats.cox_time_varying`. A patient with duration 0 is dropped,
        because an interval (0, 0] is empty (R's coxph refuses it too).
    """
    keep_columns = list(keep_columns)
    _check_columns(frame, [id_col, duration_col, event_col, change_col, *keep_columns])
    duration = check_durations(frame[duration_col], duration_col)
    event = check_events(frame[event_col], event_col)
    change = _change_days(frame, change_col)
    rows = []
    for i, (pid, dur, ev, ch) in enumerate(zip(frame[id_col], duration, event, change, strict=True)):
        if dur <= 0:
            continue
        base = {c: frame[c].iloc[i] for c in keep_columns}
        if np.isnan(ch) or ch >= dur:
            rows.append({id_col: pid, "start": 0.0, "stop": dur, event_col: ev, status_col: 0, **base})
        elif ch <= 0:
            rows.append({id_col: pid, "start": 0.0, "stop": dur, event_col: ev, status_col: 1, **base})
        else:
            rows.append({id_col: pid, "start": 0.0, "stop": ch, event_col: 0, status_col: 0, **base})
            rows.append({id_col: pid, "start": ch, "stop": dur, event_col: ev, status_col: 1, **base})
    columns = [id_col, "start", "stop", event_col, status_col, *keep_columns]
    return pd.DataFrame(rows, columns=columns)
