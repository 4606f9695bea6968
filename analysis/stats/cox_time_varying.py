"""Cox model for counting-process data (start, stop], matching R ``coxph(Surv(start, stop, event) ~ x)``.

Fitting, R's checks and the summaries are shared with :func:`analysis.stats.cox_model` (see
``cox.py``); here are the checks particular to intervals: stop > start, no overlapping intervals
of one patient.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import StatsInputError, check_durations, check_events
from .cox import (
    _check_frame,
    _check_has_events,
    _check_ties,
    _covariate_matrix,
    _fit_and_summarise,
    _make_data,
)


def cox_time_varying(
    frame: pd.DataFrame,
    id_col: str,
    start_col: str,
    stop_col: str,
    event_col: str,
    covariates,
    *,
    conf_level: float = 0.95,
    ties="efron",
    strata: str | None = None,
) -> dict:
    """Cox model for counting-process data, as R
    ``coxph(Surv(start, stop, event) ~ covariates, ties = ties)`` ("efron" or "breslow").

    Each row is an interval (start, stop] in days during which the covariates are constant,
    e.g. ``transplanted`` switching from 0 to 1 at the transplant date. The patient is at
    risk at times t with start < t <= stop; ``event`` = 1 if the event happened at ``stop``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Several rows per patient, non-overlapping intervals.
    id_col, start_col, stop_col, event_col : str
        Column names; start >= 0 and stop > start (days).
    covariates : list of str
        Numeric (0/1 dummy) covariate columns, possibly time-dependent.

    Returns
    -------
    dict
        As :func:`cox_model`, with ``n`` = number of rows and ``n_subjects``.
    """
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    _check_frame(frame, [id_col, start_col, stop_col, event_col, *covariates, *([strata] if strata else [])])
    start = check_durations(frame[start_col], start_col)
    stop = check_durations(frame[stop_col], stop_col)
    event = check_events(frame[event_col], event_col)
    if frame[id_col].isna().any():
        raise StatsInputError(f"column '{id_col}' has missing values")
    bad = stop <= start
    if bad.any():
        raise StatsInputError(
            f"column '{stop_col}' must be greater than '{start_col}' in every row "
            f"({int(bad.sum())} row(s) with {stop_col} <= {start_col}, first at position {int(np.flatnonzero(bad)[0])})"
        )
    _check_overlaps(frame[id_col].to_numpy(), start, stop, id_col)
    _check_has_events(event, event_col)
    warnings: list[str] = []
    x, names = _covariate_matrix(frame, covariates, warnings)
    strata_values = frame[strata].to_numpy() if strata else None
    data = _make_data(start, stop, event, x, names, _check_ties(ties), strata_values)
    return _fit_and_summarise(
        data,
        conf_level,
        warnings,
        {"n": len(stop), "n_subjects": int(pd.Series(frame[id_col]).nunique())},
    )


def _check_overlaps(ids, start, stop, id_col):
    """Intervals of one patient must not overlap (else the patient is counted twice at risk)."""
    same_id = ids[1:] == ids[:-1]
    try:
        in_order = bool(np.all((ids[1:] > ids[:-1]) | (same_id & (start[1:] >= start[:-1]))))
    except TypeError:  # ids that cannot be ordered
        in_order = False
    # rows usually arrive sorted by patient and start: then no sort is needed
    order = np.arange(len(ids)) if in_order else np.lexsort((start, ids))
    same = ids[order][1:] == ids[order][:-1]
    overlap = same & (start[order][1:] < stop[order][:-1])
    if overlap.any():
        who = ids[order][1:][overlap][0]
        raise StatsInputError(f"overlapping (start, stop] intervals for {id_col} = {who}")
