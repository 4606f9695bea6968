"""Log-rank test for two or more groups, matching R ``survival::survdiff`` (rho = 0).

The chi-square comes from lifelines' ``multivariate_logrank_test`` (which agrees with survdiff
to rounding); observed and expected counts per group, and survdiff's rule for groups with no
expected events, are computed here.
"""

from __future__ import annotations

import numpy as np
from lifelines.statistics import multivariate_logrank_test
from scipy.stats import chi2 as chi2_dist

from ._common import (
    StatsInputError,
    check_durations,
    check_events,
    check_groups,
    check_same_length,
    clean,
    group_levels,
)


def logrank_test(durations, events, groups) -> dict:
    """Log-rank (Mantel-Haenszel) test of equal survival across groups.

    Parameters
    ----------
    durations : array-like of float
        Days from the origin to the event or censoring.
    events : array-like of {0, 1}
        1 = event at ``duration``, 0 = censored at ``duration``.
    groups : array-like
        Group label per patient (two or more distinct labels). With a pandas Categorical,
        unused categories are reported in ``warnings`` and left out.

    Returns
    -------
    dict
        ``chi2``, ``df``, ``p``; per group ``groups`` (label as text), ``n``, ``observed``,
        ``expected`` (events expected under equal hazards); ``warnings``. As in ``survdiff``,
        groups with no expected events are left out of the statistic and ``df``; with no
        events at all, ``chi2`` is 0 and ``p`` is None.

    Raises
    ------
    StatsInputError
        Bad input, or fewer than two groups with patients.
    """
    d = check_durations(durations)
    e = check_events(events)
    g = check_groups(groups)
    check_same_length(duration=d, event=e, group=g)
    levels, empty = group_levels(groups, g)
    warnings = [f"group '{lv}' has no patients and is left out" for lv in empty]
    if len(levels) < 2:
        raise StatsInputError(
            f"column 'group' needs at least two groups with patients for a log-rank test, got {len(levels)}"
        )

    times = np.unique(d[e == 1])
    k = len(levels)
    # at-risk and event counts: rows = distinct event times, columns = groups
    at_risk = np.zeros((len(times), k))
    deaths = np.zeros((len(times), k))
    for j, lv in enumerate(levels):
        in_group = g == lv
        sorted_d = np.sort(d[in_group])
        at_risk[:, j] = len(sorted_d) - np.searchsorted(sorted_d, times, side="left")  # time >= t
        event_times = d[in_group & (e == 1)]
        np.add.at(deaths[:, j], np.searchsorted(times, event_times), 1)
    n_t = at_risk.sum(axis=1)
    d_t = deaths.sum(axis=1)
    observed = deaths.sum(axis=0)
    expected = (d_t / n_t) @ at_risk if len(times) else np.zeros(k)

    # As survdiff: groups with no expected events (never at risk at an event time) are left
    # out of the statistic and of df. Leaving out their patients changes no risk set at an
    # event time, so lifelines can be run on the remaining groups only.
    use = expected > 0
    df = int(use.sum()) - 1
    if df < 1:
        warnings.append("fewer than two groups with expected events (no events?): no test possible")
        chi2, p = 0.0, None
    else:
        used_levels = [lv for lv, u in zip(levels, use, strict=True) if u]
        rows = np.isin(g, np.array(used_levels, dtype=object))
        codes = np.array([used_levels.index(lv) for lv in g[rows]])  # lifelines sorts labels; codes are safe
        result = multivariate_logrank_test(d[rows], codes, e[rows])
        chi2 = float(result.test_statistic)
        p = float(chi2_dist.sf(chi2, df))

    n_per_group = [int((g == lv).sum()) for lv in levels]
    return clean(
        {
            "test": "log-rank",
            "chi2": chi2,
            "df": df,
            "p": p,
            "groups": [str(lv) for lv in levels],
            "n": n_per_group,
            "observed": observed,
            "expected": expected,
            "warnings": warnings,
        }
    )
