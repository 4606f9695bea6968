"""Log-rank test for two or more groups, optionally stratified, matching R ``survival::survdiff``
(rho = 0).

Observed and expected events per group and their hypergeometric variance are summed over event
times (and over strata), then chi2 = U' V^-1 U on all groups but one, as survdiff does;
groups with no expected events are left out of the statistic and df, as in survdiff. Vectorised
with numpy (sorted searches, no loop over times). lifelines' ``multivariate_logrank_test``
gives the same unstratified chi-square and is kept as a cross-check in the tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
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


def _observed_expected(d, e, codes, k):
    """Observed and expected events per group and the variance matrix of O - E (one stratum)."""
    times = np.unique(d[e == 1])
    if not len(times):
        return np.zeros(k), np.zeros(k), np.zeros((k, k))
    at_risk = np.zeros((len(times), k))
    deaths = np.zeros((len(times), k))
    for j in range(k):
        in_group = codes == j
        sorted_d = np.sort(d[in_group])
        at_risk[:, j] = len(sorted_d) - np.searchsorted(sorted_d, times, side="left")  # time >= t
        np.add.at(deaths[:, j], np.searchsorted(times, d[in_group & (e == 1)]), 1)
    n_t = at_risk.sum(axis=1)
    d_t = deaths.sum(axis=1)
    share = at_risk / n_t[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(n_t > 1, d_t * (n_t - d_t) / (n_t - 1), 0.0)
    variance = np.diag(weight @ share) - share.T @ (weight[:, None] * share)
    return deaths.sum(axis=0), d_t @ share, variance


def logrank_test(durations, events, groups, *, strata=None) -> dict:
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
    strata : array-like, optional
        Stratum label per patient: risk sets are formed within each stratum and the
        statistics summed, as R ``survdiff(Surv(t, e) ~ group + strata(s))``.

    Returns
    -------
    dict
        ``chi2``, ``df``, ``p``; per group ``groups`` (label as text), ``n``, ``observed``,
        ``expected`` (events expected under equal hazards, summed over strata);
        ``strata`` (the labels, or None); ``warnings``. As in ``survdiff``, groups with no
        expected events are left out of the statistic and ``df``; with no events at all,
        ``chi2`` is 0 and ``p`` is None.

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
    k = len(levels)
    codes = np.full(len(g), -1)
    for j, lv in enumerate(levels):
        codes[g == lv] = j
    if strata is None:
        s, stratum_levels = np.zeros(len(g), dtype=int), None
    else:
        s_values = check_groups(strata, "strata")
        check_same_length(duration=d, strata=s_values)
        s, stratum_levels = pd.factorize(s_values, sort=True)
    observed, expected, variance = np.zeros(k), np.zeros(k), np.zeros((k, k))
    for stratum in np.unique(s):
        rows = s == stratum
        o, ex, v = _observed_expected(d[rows], e[rows], codes[rows], k)
        observed, expected, variance = observed + o, expected + ex, variance + v

    use = np.flatnonzero(expected > 0)
    df = len(use) - 1
    if df < 1:
        warnings.append("fewer than two groups with expected events (no events?): no test possible")
        chi2, p = 0.0, None
    else:
        keep = use[:-1]  # all used groups but one: V is singular on all of them
        u = (observed - expected)[keep]
        chi2 = float(u @ np.linalg.solve(variance[np.ix_(keep, keep)], u))
        p = float(chi2_dist.sf(chi2, df))

    n_per_group = [int((g == lv).sum()) for lv in levels]
    return clean(
        {
            "test": "log-rank" if strata is None else "stratified log-rank",
            "chi2": chi2,
            "df": df,
            "p": p,
            "groups": [str(lv) for lv in levels],
            "n": n_per_group,
            "observed": observed,
            "expected": expected,
            "strata": None if stratum_levels is None else [str(x) for x in stratum_levels],
            "warnings": warnings,
        }
    )
