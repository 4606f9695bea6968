"""Competing risks: Aalen-Johansen cumulative incidence and Gray's K-sample test.

Numbers match R ``cmprsk::cuminc`` (estimates, its ``var`` and its ``Tests``). The code is
written from the published method (Gray 1988, Ann Stat 16:1141-1154; the delta-method
variance of the cumulative incidence as used in cmprsk), not copied from cmprsk.

``event_type`` per patient: 0 = censored at ``duration``, 1 = event of interest (e.g.
relapse), 2 = competing event (e.g. death in remission). Times are in days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2 as chi2_dist
from scipy.stats import norm

from ._common import (
    DEFAULT_TIMES,
    StatsInputError,
    check_durations,
    check_events,
    check_groups,
    check_same_length,
    clean,
    group_levels,
    to_years,
)

EVENT_TYPES = (0, 1, 2)


def _check(durations, event_types):
    d = check_durations(durations)
    c = check_events(event_types, "event_type", allowed=EVENT_TYPES)
    check_same_length(duration=d, event_type=c)
    return d, c


def _cif_steps(d: np.ndarray, c: np.ndarray, cause: int) -> dict:
    """CIF of ``cause`` and its cmprsk variance at each distinct time, vectorised over times.

    F(t) = sum_{s <= t} S(s-) d_cause(s) / n(s), with S the all-cause Kaplan-Meier.
    The variance is the delta-method estimate of cmprsk, var = a - 2 F b + F^2 c with three
    running sums over the event times; like cmprsk it is only updated at times where
    ``cause`` occurs (in between it keeps its last value).
    """
    times, inv = np.unique(d, return_inverse=True)
    n_tot = np.bincount(inv, minlength=len(times)).astype(float)
    d_cause = np.bincount(inv, weights=(c == cause), minlength=len(times))
    d_any = np.bincount(inv, weights=(c != 0), minlength=len(times))
    d_other = d_any - d_cause
    n = n_tot[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        s_new = np.cumprod(np.where(d_any > 0, (n - d_any) / n, 1.0))
        s_prev = np.concatenate([[1.0], s_new[:-1]])
        f = np.cumsum(s_prev * d_cause / n)
        inv_s = np.where(s_new > 0, 1 / s_new, 0.0)
        # competing events enter only through S; events of interest through the jump and S
        w2 = np.where((d_other > 0) & (s_new > 0), s_prev**2 * _tie_factor(d_other, n) * d_other / n**2, 0.0)
        w1 = np.where(d_cause > 0, s_prev**2 * _tie_factor(d_cause, n) * d_cause / n**2, 0.0)
        g2, g1 = f * inv_s, 1 + inv_s * f
    acc_a = np.cumsum(g2 * g2 * w2 + g1 * g1 * w1)
    acc_b = np.cumsum(inv_s * g2 * w2 + inv_s * g1 * w1)
    acc_c = np.cumsum(inv_s**2 * (w2 + w1))
    updated = np.where(d_cause > 0, np.arange(len(times)), -1)
    last = np.maximum.accumulate(updated) if len(times) else updated
    v = acc_a + f * f * acc_c - 2 * f * acc_b
    var = np.where(last >= 0, v[np.maximum(last, 0)], 0.0)
    return {"time": times, "n_risk": n, "n_event": d_cause, "estimate": f, "variance": var}


def _tie_factor(d, n):
    """(n - d) / (n - 1): hypergeometric correction for d tied events among n at risk (arrays)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 1, 1.0 - (d - 1.0) / (n - 1.0), 1.0)


def _loglog_ci(est, var, z):
    """CI on the log(-log) scale: F ** exp(+-z se / (F log F)); None where F is 0 or 1."""
    est = np.asarray(est, float)
    se = np.sqrt(np.asarray(var, float))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # F near 1: the limit is 0 or 1
        ok = (est > 0) & (est < 1)
        k = np.where(ok, z * se / (est * np.log(est)), np.nan)
        lower = np.where(ok, est ** np.exp(-k), np.nan)
        upper = np.where(ok, est ** np.exp(k), np.nan)
    return se, lower, upper


def cumulative_incidence(durations, event_types, *, times=DEFAULT_TIMES, conf_level: float = 0.95) -> dict:
    """Cumulative incidence functions (Aalen-Johansen) for the event of interest and the
    competing event, as R ``cmprsk::cuminc(duration, event_type, cencode = 0)``.

    Parameters
    ----------
    durations : array-like of float
        Days from the origin to the first event or to censoring.
    event_types : array-like of {0, 1, 2}
        0 = censored, 1 = event of interest, 2 = competing event.
    times : sequence of float
        Fixed times (days) for the ``at_times`` estimates (default 1, 3, 5 years).
    conf_level : float
        Level of the pointwise CI (log(-log) transform of the cmprsk variance; the CI itself
        is not part of cmprsk's output).

    Returns
    -------
    dict
        ``causes``: {"1": ..., "2": ...}, each with ``table`` (per time of an event of that
        cause, where the curve steps: time, n_at_risk, n_event, estimate, variance, std_err,
        lower, upper) and
        ``at_times`` (value at the last time <= t, like ``cmprsk::timepoints``; None after
        the last follow-up). ``n``, ``last_time`` (the last follow-up, where the curves end),
        ``n_events`` per type, ``warnings``.
    """
    d, c = _check(durations, event_types)
    if not 0 < conf_level < 1:
        raise StatsInputError(f"conf_level must be between 0 and 1, got {conf_level}")
    z = float(norm.ppf(1 - (1 - conf_level) / 2))
    warnings = []
    if len(d) == 0:
        warnings.append("no patients: nothing to estimate")
    causes = {}
    for cause in (1, 2):
        steps = _cif_steps(d, c, cause)
        se, lower, upper = _loglog_ci(steps["estimate"], steps["variance"], z)
        at = []
        for t in times:
            t = float(t)
            if len(d) == 0 or t > steps["time"][-1]:
                at.append(
                    {
                        "time": t,
                        "time_years": to_years(t),
                        "estimate": None,
                        "variance": None,
                        "std_err": None,
                        "lower": None,
                        "upper": None,
                        "beyond_follow_up": True,
                    }
                )
                continue
            i = np.searchsorted(steps["time"], t, side="right") - 1
            vals = (
                (0.0, 0.0, 0.0, None, None)
                if i < 0
                else (steps["estimate"][i], steps["variance"][i], se[i], lower[i], upper[i])
            )
            at.append(
                {
                    "time": t,
                    "time_years": to_years(t),
                    "estimate": vals[0],
                    "variance": vals[1],
                    "std_err": vals[2],
                    "lower": vals[3],
                    "upper": vals[4],
                    "beyond_follow_up": False,
                }
            )
        # The step function's vertices: the times of this cause's events (estimate and variance
        # change only there).
        rows = steps["n_event"] > 0
        causes[str(cause)] = {
            "table": {
                "time": steps["time"][rows],
                "n_at_risk": steps["n_risk"][rows].astype(int),
                "n_event": steps["n_event"][rows].astype(int),
                "estimate": steps["estimate"][rows],
                "variance": steps["variance"][rows],
                "std_err": se[rows],
                "lower": lower[rows],
                "upper": upper[rows],
            },
            "at_times": at,
        }
    return clean(
        {
            "method": "Aalen-Johansen cumulative incidence (cmprsk::cuminc variance)",
            "n": len(d),
            "last_time": float(d.max()) if len(d) else None,
            "n_events": {str(k): int((c == k).sum()) for k in EVENT_TYPES},
            "conf_level": conf_level,
            "causes": causes,
            "warnings": warnings,
        }
    )


# ---------------------------------------------------------------- Gray's test


def _gray_stratum(d, c, g, n_groups, rho):
    """{cause: (Gray's score for the first K-1 groups, its variance)} within one stratum, for
    causes 1 and 2; the rows are binned by (time, group, event type) once for both."""
    times, at = np.unique(d, return_inverse=True)
    counts = np.bincount((at * n_groups + g) * 3 + c, minlength=len(times) * n_groups * 3)
    counts = counts.reshape(len(times), n_groups, 3).astype(float)
    at_risk = _suffix(counts.sum(2))  # R_k(t): follow-up >= t
    return {cause: _gray_cause(at_risk, counts[:, :, cause], counts[:, :, 3 - cause], rho) for cause in (1, 2)}


def _gray_cause(at_risk, d1, d2, rho):
    """Gray's score (first K-1 groups) and its variance for one cause, vectorised over the
    distinct times (arrays of times x groups, and times x groups x groups); ``d1`` counts the
    cause's events, ``d2`` the competing ones, per time and group.

    Notation follows Gray (1988): per group k, R_k at risk, S_k(t-) all-cause KM and
    F_k(t-) the CIF of ``cause`` (left-continuous); the test compares each group's
    subdistribution hazard with the pooled one, weighted by (1 - F(t-))^rho.
    """
    T, K = at_risk.shape
    K1 = K - 1
    n1, n2 = d1.sum(1), d2.sum(1)
    active = (n1 + n2) > 0
    live = at_risk > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_r = np.where(live, at_risk, 1.0)
        s_now = np.cumprod(np.where(live, (at_risk - d1 - d2) / safe_r, 1.0), axis=0)
        s_left = np.vstack([np.ones((1, K)), s_now[:-1]])
        f_now = np.cumsum(np.where(live, s_left * d1 / safe_r, 0.0), axis=0)
        f_left = np.vstack([np.zeros((1, K)), f_now[:-1]])
        h = np.where(live, at_risk / s_left, 0.0)  # R_k / S_k(t-)
        tr = h.sum(1)
        tq = (h * (1 - f_left)).sum(1)
        f_pool = np.cumsum(np.where(active, n1 / tr, 0.0))
        f_pool_left = np.concatenate([[0.0], f_pool[:-1]])
        weight = (1 - f_pool_left) ** rho
        amat = weight[:, None, None] * (h[:, :, None] * np.eye(K) - h[:, :, None] * h[:, None, :] / tr[:, None, None])
        amat = np.where(active[:, None, None], amat, 0.0)
        step = np.where(amat != 0, amat * (n1 / (tr * (1 - f_pool_left)))[:, None, None], 0.0)
        cmat = np.cumsum(np.where((n1 > 0)[:, None, None], step, 0.0), axis=0)  # running, this time included
        score = np.where(
            active[:, None] & live, weight[:, None] * (d1 - n1[:, None] * h * (1 - f_left) / tq[:, None]), 0.0
        )
        # events of the cause
        on1 = (n1 > 0)[:, None] & live
        t4 = np.where(s_now > 0, 1 - (1 - f_pool[:, None]) / s_now, 1.0)
        t5 = np.where((n1 > 1)[:, None], 1 - (n1[:, None] - 1) / (tr[:, None] * s_left - 1), 1.0)
        t3 = np.where(on1, t5 * s_left * n1[:, None] / (tr[:, None] * safe_r), 0.0)
        col = amat[:, :K1, :] - t4[:, None, :] * cmat[:, :K1, :]  # (T, K1, K)
        # competing events
        on2 = (n2 > 0)[:, None] & (s_now > 0) & (d2 > 0) & live
        t4c = np.where(on2, (1 - f_pool[:, None]) / s_now, 0.0)
        t3c = np.where(on2, _tie_factor(d2, safe_r) * s_left**2 * d2 / safe_r**2, 0.0)
    t4 = np.where(on1, t4, 0.0)
    col = np.where(on1[:, None, :], col, 0.0)
    v3 = (t4 * t4 * t3 + t4c * t4c * t3c).sum(0)
    v2 = np.einsum("tak,tk->ak", col, t4 * t3) - np.einsum("tak,tk->ak", cmat[:, :K1, :], t4c * t4c * t3c)
    var = np.einsum("tk,tak,tbk->ab", t3, col, col) + np.einsum(
        "tk,tak,tbk->ab", t3c * t4c * t4c, cmat[:, :K1], cmat[:, :K1]
    )
    c1 = cmat[-1, :K1] if T else np.zeros((K1, K))
    var += (c1 * v3) @ c1.T + c1 @ v2.T + v2 @ c1.T
    return score.sum(0)[:K1], var


def _suffix(values):
    """Sums from each row to the last (along axis 0)."""
    return np.cumsum(values[::-1], axis=0)[::-1]


def grays_test(durations, event_types, groups, *, strata=None, rho: float = 0.0) -> dict:
    """Gray's test that the cumulative incidence of a cause is equal across groups, as the
    ``Tests`` of R ``cmprsk::cuminc(duration, event_type, group, strata, rho)``.

    Parameters
    ----------
    durations : array-like of float
        Days to first event or censoring.
    event_types : array-like of {0, 1, 2}
        0 = censored, 1 = event of interest, 2 = competing event.
    groups : array-like
        Group label per patient (two or more groups with patients).
    strata : array-like, optional
        Stratum per patient; scores and variances are summed over strata.
    rho : float
        Power of the weight (1 - F(t-))^rho; 0 (default) as cmprsk.

    Returns
    -------
    dict
        For the event of interest (cause 1): ``chi2``, ``df`` (groups - 1), ``p``;
        ``by_cause`` with the same for causes 1 and 2; ``groups``, ``warnings``. ``chi2`` is
        None (with a warning) when the variance matrix is singular, e.g. no events of that
        cause.
    """
    d, c = _check(durations, event_types)
    gv = check_groups(groups)
    check_same_length(duration=d, event_type=c, group=gv)
    levels, empty = group_levels(groups, gv)
    warnings = [f"group '{lv}' has no patients and is left out" for lv in empty]
    if len(levels) < 2:
        raise StatsInputError(
            f"column 'group' needs at least two groups with patients for Gray's test, got {len(levels)}"
        )
    codes = pd.Index(levels).get_indexer(pd.Series(groups))  # on the typed labels: faster than objects
    if strata is None:
        st = np.zeros(len(d), dtype=int)
    else:
        sv = check_groups(strata, "strata")
        check_same_length(duration=d, strata=sv)
        # strata compared as text (1 and "1" are one stratum): factorise, then label the few levels
        raw, uniques = pd.factorize(pd.Series(strata))
        st = np.unique(np.asarray(uniques).astype(str), return_inverse=True)[1][raw]
    K = len(levels)
    score = {cause: np.zeros(K - 1) for cause in (1, 2)}
    var = {cause: np.zeros((K - 1, K - 1)) for cause in (1, 2)}
    for s in np.unique(st):
        sel = st == s
        for cause, (sc, vv) in _gray_stratum(d[sel], c[sel], codes[sel], K, rho).items():
            score[cause], var[cause] = score[cause] + sc, var[cause] + vv
    by_cause = {}
    for cause in (1, 2):
        if np.linalg.matrix_rank(var[cause]) < K - 1:
            stat = p = None
            warnings.append(f"cause {cause}: variance matrix is singular (too few events); no test")
        else:
            stat = float(score[cause] @ np.linalg.solve(var[cause], score[cause]))
            p = float(chi2_dist.sf(stat, K - 1))
        by_cause[str(cause)] = {"chi2": stat, "df": K - 1, "p": p}
    return clean(
        {
            "test": "Gray",
            "rho": rho,
            "groups": [str(lv) for lv in levels],
            "n": [int((codes == k).sum()) for k in range(K)],
            "cause": 1,
            **by_cause["1"],
            "by_cause": by_cause,
            "warnings": warnings,
        }
    )
