"""Competing risks: Aalen-Johansen cumulative incidence and Gray's K-sample test.

Numbers match R ``cmprsk::cuminc`` (estimates, its ``var`` and its ``Tests``). The code is
written from the published method (Gray 1988, Ann Stat 16:1141-1154; the delta-method
variance of the cumulative incidence as used in cmprsk), not copied from cmprsk.

``event_type`` per patient: 0 = censored at ``duration``, 1 = event of interest (e.g.
relapse), 2 = competing event (e.g. death in remission). Times are in days.
"""

from __future__ import annotations

import numpy as np
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
    """CIF of ``cause`` and its cmprsk variance at each distinct time.

    F(t) = sum_{s <= t} S(s-) d_cause(s) / n(s), with S the all-cause Kaplan-Meier.
    The variance is the delta-method estimate of cmprsk; like cmprsk it is only updated at
    times where ``cause`` occurs (in between it keeps its last value).
    """
    times, inv = np.unique(d, return_inverse=True)
    n_tot = np.bincount(inv, minlength=len(times)).astype(float)
    d_cause = np.bincount(inv, weights=(c == cause), minlength=len(times))
    d_any = np.bincount(inv, weights=(c != 0), minlength=len(times))
    d_other = d_any - d_cause
    n_risk = n_tot[::-1].cumsum()[::-1]

    est = np.zeros(len(times))
    var = np.zeros(len(times))
    s_prev, f, v = 1.0, 0.0, 0.0
    # three running sums of the delta-method variance: var = a - 2 F b + F^2 c
    acc_a = acc_b = acc_c = 0.0
    for i, (n, d1, d2) in enumerate(zip(n_risk, d_cause, d_other, strict=True)):
        if d1 + d2 > 0:
            s_new = s_prev * (n - d1 - d2) / n
            f = f + s_prev * d1 / n
            inv_s = 1.0 / s_new if s_new > 0 else 0.0
            # competing events: enter only through S
            if d2 > 0 and s_new > 0:
                w = s_prev**2 * _tie_factor(d2, n) * d2 / n**2
                g = f * inv_s
                acc_a, acc_b, acc_c = acc_a + g * g * w, acc_b + inv_s * g * w, acc_c + inv_s**2 * w
            # events of interest: enter through the jump and through S
            if d1 > 0:
                w = s_prev**2 * _tie_factor(d1, n) * d1 / n**2
                g = 1 + inv_s * f
                acc_a, acc_b, acc_c = acc_a + g * g * w, acc_b + inv_s * g * w, acc_c + inv_s**2 * w
                v = acc_a + f * f * acc_c - 2 * f * acc_b
            s_prev = s_new
        est[i], var[i] = f, v
    return {"time": times, "n_risk": n_risk, "n_event": d_cause, "estimate": est, "variance": var}


def _tie_factor(d, n):
    """(n - d) / (n - 1): hypergeometric correction for d tied events among n at risk."""
    return 1.0 - (d - 1.0) / (n - 1.0) if d > 1 else 1.0


def _loglog_ci(est, var, z):
    """CI on the log(-log) scale: F ** exp(+-z se / (F log F)); None where F is 0 or 1."""
    est = np.asarray(est, float)
    se = np.sqrt(np.asarray(var, float))
    with np.errstate(divide="ignore", invalid="ignore"):
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
        ``causes``: {"1": ..., "2": ...}, each with ``table`` (per distinct time: time,
        n_at_risk, n_event (of that cause), estimate, variance, std_err, lower, upper) and
        ``at_times`` (value at the last time <= t, like ``cmprsk::timepoints``; None after
        the last follow-up). ``n``, ``n_events`` per type, ``warnings``.
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
        causes[str(cause)] = {
            "table": {
                "time": steps["time"],
                "n_at_risk": steps["n_risk"].astype(int),
                "n_event": steps["n_event"].astype(int),
                "estimate": steps["estimate"],
                "variance": steps["variance"],
                "std_err": se,
                "lower": lower,
                "upper": upper,
            },
            "at_times": at,
        }
    return clean(
        {
            "method": "Aalen-Johansen cumulative incidence (cmprsk::cuminc variance)",
            "n": len(d),
            "n_events": {str(k): int((c == k).sum()) for k in EVENT_TYPES},
            "conf_level": conf_level,
            "causes": causes,
            "warnings": warnings,
        }
    )


# ---------------------------------------------------------------- Gray's test


def _gray_stratum(d, c, g, n_groups, cause, rho):
    """Gray's score (first K-1 groups) and its variance within one stratum.

    Notation follows Gray (1988): per group k, R_k at risk, S_k(t-) all-cause KM and
    F_k(t-) the CIF of ``cause`` (left-continuous); the test compares each group's
    subdistribution hazard with the pooled one, weighted by (1 - F(t-))^rho.
    """
    K, K1 = n_groups, n_groups - 1
    order = np.argsort(d, kind="stable")
    d, c, g = d[order], c[order], g[order]
    at_risk = np.bincount(g, minlength=K).astype(float)
    f_left = np.zeros(K)  # F_k(t-)
    s_left = np.ones(K)  # S_k(t-)
    f_pool_left = 0.0  # pooled F(t-) of the test
    score = np.zeros(K1)
    var = np.zeros((K1, K1))
    cmat = np.zeros((K, K))  # running sum of the derivative terms
    v2 = np.zeros((K1, K))
    v3 = np.zeros(K)

    for t in np.unique(d):
        here = d == t
        d1 = np.bincount(g[here & (c == cause)], minlength=K).astype(float)
        d2 = np.bincount(g[here & (c != cause) & (c != 0)], minlength=K).astype(float)
        n1, n2 = d1.sum(), d2.sum()
        if n1 + n2 > 0:
            live = at_risk > 0
            safe_r = np.where(live, at_risk, 1.0)
            s_now = np.where(live, s_left * (at_risk - d1 - d2) / safe_r, s_left)
            f_now = np.where(live, f_left + s_left * d1 / safe_r, f_left)
            h = np.divide(at_risk, s_left, out=np.zeros(K), where=live)  # R_k / S_k(t-)
            tr = h.sum()
            tq = (h * (1 - f_left)).sum()
            f_pool = f_pool_left + n1 / tr
            weight = (1 - f_pool_left) ** rho
            amat = weight * (np.diag(h) - np.outer(h, h) / tr)
            if n1 > 0:
                cmat += np.where(amat != 0, amat * n1 / (tr * (1 - f_pool_left)), 0.0)
            score += np.where(live, weight * (d1 - n1 * h * (1 - f_left) / tq), 0.0)[:K1]
            if n1 > 0:
                for k in np.flatnonzero(live):
                    t4 = 1 - (1 - f_pool) / s_now[k] if s_now[k] > 0 else 1.0
                    t5 = 1 - (n1 - 1) / (tr * s_left[k] - 1) if n1 > 1 else 1.0
                    t3 = t5 * s_left[k] * n1 / (tr * at_risk[k])
                    v3[k] += t4 * t4 * t3
                    col = amat[:K1, k] - t4 * cmat[:K1, k]
                    v2[:, k] += col * t4 * t3
                    var += t3 * np.outer(col, col)
            if n2 > 0:
                for k in np.flatnonzero((s_now > 0) & (d2 > 0) & live):
                    t4 = (1 - f_pool) / s_now[k]
                    t3 = _tie_factor(d2[k], at_risk[k]) * s_left[k] ** 2 * d2[k] / at_risk[k] ** 2
                    v3[k] += t4 * t4 * t3
                    col = t4 * cmat[:K1, k]
                    v2[:, k] -= col * t4 * t3
                    var += t3 * np.outer(col, col)
            f_left, s_left, f_pool_left = f_now, s_now, f_pool
        at_risk -= np.bincount(g[here], minlength=K)

    c1 = cmat[:K1]
    var += (c1 * v3) @ c1.T + c1 @ v2.T + v2 @ c1.T
    return score, var


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
    codes = np.array([levels.index(x) for x in gv], dtype=int)
    if strata is None:
        st = np.zeros(len(d), dtype=int)
    else:
        sv = check_groups(strata, "strata")
        check_same_length(duration=d, strata=sv)
        st = np.unique(sv.astype(str), return_inverse=True)[1]
    K = len(levels)
    by_cause = {}
    for cause in (1, 2):
        score = np.zeros(K - 1)
        var = np.zeros((K - 1, K - 1))
        for s in np.unique(st):
            sel = st == s
            sc, vv = _gray_stratum(d[sel], c[sel], codes[sel], K, cause, rho)
            score, var = score + sc, var + vv
        if np.linalg.matrix_rank(var) < K - 1:
            stat = p = None
            warnings.append(f"cause {cause}: variance matrix is singular (too few events); no test")
        else:
            stat = float(score @ np.linalg.solve(var, score))
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
