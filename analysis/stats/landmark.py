"""Helpers against immortal-time bias: landmark data sets and counting-process splitting.

Events that happen after the time origin (remission after salvage, HSCT) must not be used as
baseline covariates. Two sound alternatives are prepared here, with pure pandas:

* :func:`landmark_frame` - keep patients still in follow-up at a landmark time, restart the
  clock there, and fix covariate status as of the landmark.
* :func:`counting_process_frame` - split follow-up at the times binary covariates switch
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
    changes: dict[str, str],
    keep_columns=(),
) -> pd.DataFrame:
    """Split each patient's follow-up at the days binary covariates switch on.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient.
    id_col, duration_col, event_col : str
        Patient identifier, follow-up time (days) and event indicator (1 = event at the end of
        follow-up, 0 = censored there).
    changes : dict
        ``{status_column: days_to_change_column}``, one entry per time-dependent covariate; a
        change column holds the days from the origin to the switch from 0 to 1 (NaN: never).
    keep_columns : sequence of str
        Baseline columns repeated on every row of the patient.

    Returns
    -------
    pandas.DataFrame
        Columns ``id_col``, ``start``, ``stop`` (days, float), ``event_col``, the status columns
        and ``keep_columns``, ready for :func:`analysis.stats.cox_time_varying`; patients in the
        order of ``frame``, intervals in time order. Follow-up is cut at every change c with
        0 < c < duration (several changes on one day give one cut); a status is 1 on (start,
        stop] if its change happened on or before ``start``, so a change on day 0 counts from
        the start and a change at or after the end of follow-up (or NaN) never counts. Only
        the last interval carries the patient's event. A patient with duration 0 is dropped,
        because an interval (0, 0] is empty (R's coxph refuses it too).
    """
    changes = dict(changes)
    if not changes:
        raise StatsInputError("changes must name at least one time-dependent covariate")
    keep_columns = list(keep_columns)
    _check_columns(frame, [id_col, duration_col, event_col, *changes.values(), *keep_columns])
    duration = check_durations(frame[duration_col], duration_col)
    event = check_events(frame[event_col], event_col)
    change = np.column_stack([_change_days(frame, col) for col in changes.values()])
    # Interval starts: 0 for every patient followed > 0 days, and each change inside follow-up.
    followed = np.flatnonzero(duration > 0)
    inside = (change > 0) & (change < duration[:, None])
    cut_rows, cut_cols = np.nonzero(inside[followed])
    patient = np.concatenate([followed, followed[cut_rows]])
    start = np.concatenate([np.zeros(len(followed)), change[followed[cut_rows], cut_cols]])
    order = np.lexsort((start, patient))
    patient, start = patient[order], start[order]
    distinct = np.ones(len(patient), dtype=bool)
    distinct[1:] = (patient[1:] != patient[:-1]) | (start[1:] != start[:-1])
    patient, start = patient[distinct], start[distinct]
    last = np.ones(len(patient), dtype=bool)
    last[:-1] = patient[1:] != patient[:-1]
    stop = np.where(last, duration[patient], np.roll(start, -1))
    out = pd.DataFrame(
        {
            id_col: frame[id_col].to_numpy()[patient],
            "start": start,
            "stop": stop,
            event_col: np.where(last, event[patient], 0),
        }
    )
    for i, status_col in enumerate(changes):
        # NaN (never) compares False: the status stays 0.
        out[status_col] = (change[patient, i] <= start).astype(int)
    for col in keep_columns:
        out[col] = frame[col].to_numpy()[patient]
    return out
