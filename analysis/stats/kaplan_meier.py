"""Kaplan-Meier survival estimates matching R's ``survival::survfit`` (defaults).

Everything is computed here with numpy: the product-limit estimate and its table (at risk,
events, censorings at each distinct time), the Greenwood standard error on the survival scale,
R's default "log" confidence interval, and R's median rule (midpoint of a flat segment at
exactly 0.5), applied to the survival curve and to its limits. lifelines' ``KaplanMeierFitter``
gives the same estimate (a test checks it) but defines the interval and the median otherwise.

Time is in days throughout (results also give years, 365.25 days a year). An ``event`` of 1
is the endpoint event (e.g. death); 0 means the patient was censored at ``duration``
(alive and event-free when last seen). At a tied time, events are counted before
censorings: a patient censored at ``t`` is still at risk at ``t``.
"""

from __future__ import annotations

import numpy as np
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

DEFAULT_RISK_TIMES = (0.0, 365.25, 730.5, 1095.75, 1461.0, 1826.25)  # 0-5 years, yearly
DEFAULT_RMST_TAU = 1826.25  # restricted mean survival up to 5 years
# R's quantile.survfit tolerance for "the curve is exactly at 0.5"
_QUANTILE_TOL = float(np.sqrt(np.finfo(float).eps))


def _z(conf_level: float) -> float:
    if not 0 < conf_level < 1:
        raise StatsInputError(f"conf_level must be between 0 and 1, got {conf_level}")
    return float(norm.ppf(1 - (1 - conf_level) / 2))


def _km_steps(durations: np.ndarray, events: np.ndarray) -> dict:
    """Product-limit estimate at each distinct time (event or censoring), as numpy arrays.

    ``n_risk`` counts the patients whose duration is >= the time, so those censored at a time
    are still at risk at it (events before censorings). ``surv`` is the product of
    (1 - d / n), computed as exp of a cumulative sum of logs, as lifelines does (the same
    numbers). ``var_log`` is the Greenwood sum sum d / (n (n - d)), the variance of log S(t)
    (R's ``survfit(...)$std.err`` squared); it is inf once everybody at risk has died.
    """
    times, time_index, n_removed = np.unique(durations, return_inverse=True, return_counts=True)
    n_event = np.bincount(time_index, weights=events, minlength=len(times)).astype(float)
    n_censor = n_removed - n_event
    n_risk = (len(durations) - np.cumsum(n_removed) + n_removed).astype(float)  # duration >= time
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.exp(np.cumsum(np.log(n_risk - n_event) - np.log(n_risk)))
        greenwood_terms = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    var_log = np.cumsum(greenwood_terms)
    return {"time": times, "n_risk": n_risk, "n_event": n_event, "n_censor": n_censor, "surv": surv, "var_log": var_log}


def _log_ci(surv: np.ndarray, var_log: np.ndarray, z: float):
    """R's conf.type="log": S exp(+-z se(log S)), upper capped at 1, undefined where S = 0.

    Returns (std_err on the survival scale, lower, upper), NaN where undefined.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        se_log = np.sqrt(var_log)
        std_err = surv * se_log  # what summary(survfit)$std.err reports
        positive = surv > 0
        lower = np.where(positive, surv * np.exp(-z * se_log), np.nan)
        upper = np.where(positive, np.minimum(surv * np.exp(z * se_log), 1.0), np.nan)
    std_err = np.where(np.isfinite(std_err), std_err, np.nan)
    return std_err, lower, upper


def _findq(x: np.ndarray, y: np.ndarray, p: float, tol: float = _QUANTILE_TOL):
    """Time at which the cumulative failure ``y`` (step function on ``x``) first reaches ``p``.

    Port of the rule in R's survival:::findq (used by print/quantile.survfit): if the curve
    sits exactly at ``p`` (within ``tol``) on a flat segment, the answer is the midpoint of
    that segment; if it stays at ``p`` until the end, the midpoint with the last time.
    NaN points (undefined confidence limits) are ignored. Returns None if never reached.
    """
    if len(y) == 0 or np.all(np.isnan(y)) or np.nanmax(y) < p:
        return None
    xmax = x[-1]
    # keep the first time at which each distinct value is reached (NaN counted once, as in R)
    _, first = np.unique(np.where(np.isnan(y), np.inf, y), return_index=True)
    first = np.sort(first)
    x, y = x[first], y[first]
    valid = ~np.isnan(y)

    def first_at_or_above(values):
        hit = np.flatnonzero(valid & (values >= p))
        return int(hit[0]) if len(hit) else None

    i1 = first_at_or_above(y + tol)
    i2 = first_at_or_above(y - tol)
    if not np.isnan(y[-1]) and abs(p - y[-1]) < tol and i1 is not None:
        return float((x[i1] + xmax) / 2)
    if i1 is None or i2 is None:
        return None
    return float((x[i1] + x[i2]) / 2)


def _estimate_at(steps: dict, std_err, lower, upper, t: float) -> dict:
    """Survival at time t: the step value at the last distinct time <= t.

    Like R's summary(survfit, times=), a time after the last follow-up gives no estimate
    ("beyond follow-up"), unless the curve has reached 0: then every later estimate is 0, known,
    as R's summary(..., extend=TRUE) reports it (standard error and limits undefined).
    """
    times = steps["time"]
    out = {"time": t, "time_years": to_years(t)}
    if len(times) and t > times[-1] and steps["surv"][-1] == 0:
        return {
            **out,
            "survival": 0.0,
            "std_err": None,
            "lower": None,
            "upper": None,
            "n_at_risk": 0,
            "beyond_follow_up": False,
        }
    if len(times) == 0 or t > times[-1]:
        return {
            **out,
            "survival": None,
            "std_err": None,
            "lower": None,
            "upper": None,
            "n_at_risk": 0,
            "beyond_follow_up": True,
        }
    i = np.searchsorted(times, t, side="right") - 1
    n_at_risk = int(steps["n_risk"][np.searchsorted(times, t, side="left")])
    if i < 0:  # before the first observed time
        return {
            **out,
            "survival": 1.0,
            "std_err": 0.0,
            "lower": 1.0,
            "upper": 1.0,
            "n_at_risk": n_at_risk,
            "beyond_follow_up": False,
        }
    return {
        **out,
        "survival": steps["surv"][i],
        "std_err": std_err[i],
        "lower": lower[i],
        "upper": upper[i],
        "n_at_risk": n_at_risk,
        "beyond_follow_up": False,
    }


def number_at_risk(durations, times=DEFAULT_RISK_TIMES) -> list[dict]:
    """Numbers at risk for a risk table under a plot: patients with duration >= t.

    Parameters
    ----------
    durations : array-like of float
        Follow-up time in days (event or censoring).
    times : sequence of float
        Display times in days.

    Returns
    -------
    list of dict
        ``{"time": t, "time_years": ..., "n_at_risk": int}`` for each display time.
    """
    d = check_durations(durations)
    return [{"time": float(t), "time_years": to_years(float(t)), "n_at_risk": int((d >= t).sum())} for t in times]


def _quantile(x: np.ndarray, surv: np.ndarray, lower: np.ndarray, upper: np.ndarray, p: float) -> dict:
    """The p-quantile of the survival time (the time the cumulative failure 1 - S reaches p)
    with R's CI rule: the times at which the limits' curves reach p (quantile.survfit)."""
    if not 0 < p < 1:
        raise StatsInputError(f"quantile probabilities must be between 0 and 1, got {p}")
    at = _findq(x, np.concatenate([[0.0], 1 - surv]), p)
    lo = _findq(x, np.concatenate([[0.0], 1 - lower]), p)
    hi = _findq(x, np.concatenate([[0.0], 1 - upper]), p)
    return {
        "p": p,
        "time": at,
        "lower": lo,
        "upper": hi,
        "time_years": to_years(at),
        "lower_years": to_years(lo),
        "upper_years": to_years(hi),
        "reached": at is not None,
    }


def _restricted_mean(steps: dict, tau: float, z: float) -> dict:
    """Restricted mean survival time up to ``tau`` days (the area under S on [0, tau]) and its
    standard error, as R's ``print(survfit, rmean = tau)``: var = sum over event times t_j <= tau
    of A_j^2 d_j / (n_j (n_j - d_j)), A_j the area under S from t_j to tau."""
    if not tau > 0:
        raise StatsInputError(f"rmst_tau must be a positive number of days, got {tau}")
    keep = steps["time"] <= tau
    times, surv = steps["time"][keep], steps["surv"][keep]
    widths = np.diff(np.concatenate([[0.0], times, [tau]]))
    heights = np.concatenate([[1.0], surv])
    rectangles = widths * heights
    rmst = float(rectangles.sum())
    area_after = np.cumsum(rectangles[::-1])[::-1][1:]  # A_j: from each time to tau
    d, n = steps["n_event"][keep], steps["n_risk"][keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where((d > 0) & (n > d), area_after**2 * d / (n * (n - d)), 0.0)
    se = float(np.sqrt(terms.sum()))
    return {
        "tau": tau,
        "tau_years": to_years(tau),
        "rmst": rmst,
        "rmst_years": to_years(rmst),
        "std_err": se,
        "lower": rmst - z * se,
        "upper": rmst + z * se,
    }


def _curve(steps: dict, z: float, times) -> tuple[dict, tuple]:
    """A product-limit curve from its steps: ``table``, ``at_times`` and ``median`` (R's rules),
    and (x, lower, upper) for further quantiles. Shared by Kaplan-Meier and Simon-Makuch."""
    std_err, lower, upper = _log_ci(steps["surv"], steps["var_log"], z)
    x = np.concatenate([[0.0], steps["time"]])
    median = _quantile(x, steps["surv"], lower, upper, 0.5)
    del median["p"]
    # The table holds the step function's vertices: the event times (the curve is flat between
    # them), each with the censorings from it until the next event time.
    events = steps["n_event"] > 0
    first = np.flatnonzero(events)
    n_censor = np.add.reduceat(steps["n_censor"], first) if len(first) else np.zeros(0)
    curve = {
        "table": {
            "time": steps["time"][events],
            "n_at_risk": steps["n_risk"][events].astype(int),
            "n_event": steps["n_event"][events].astype(int),
            "n_censor": n_censor.astype(int),
            "survival": steps["surv"][events],
            "std_err": std_err[events],
            "lower": lower[events],
            "upper": upper[events],
        },
        "last_time": float(steps["time"][-1]) if len(steps["time"]) else None,
        "at_times": [_estimate_at(steps, std_err, lower, upper, float(t)) for t in times],
        "median": median,
    }
    return curve, (x, lower, upper)


def kaplan_meier(
    durations,
    events,
    *,
    times=DEFAULT_TIMES,
    conf_level: float = 0.95,
    risk_times=DEFAULT_RISK_TIMES,
    quantiles=(0.25, 0.5, 0.75),
    rmst_tau: float | None = DEFAULT_RMST_TAU,
) -> dict:
    """Kaplan-Meier estimate with Greenwood standard errors, as R ``survfit(Surv(t, e) ~ 1)``.

    Parameters
    ----------
    durations : array-like of float
        Time from the origin to the event or to censoring, in days (>= 0).
    events : array-like of {0, 1}
        1 = event observed at ``duration``; 0 = censored at ``duration``.
    times : sequence of float, default 1, 3 and 5 years in days
        Fixed times at which estimates are reported.
    conf_level : float, default 0.95
        Level of the pointwise confidence intervals (R's default ``conf.type="log"``).
    risk_times : sequence of float
        Display times (days) for the numbers-at-risk table.
    quantiles : sequence of float in (0, 1)
        Probabilities p at which to report the time by which a fraction p had the event
        (0.5 = the median), with R's confidence limits.
    rmst_tau : float or None
        Horizon (days) of the restricted mean survival time; None leaves it out.

    Returns
    -------
    dict
        ``table`` (columns: time, n_at_risk, n_event, n_censor, survival, std_err, lower,
        upper, one entry per event time, as R's ``summary(survfit)``; ``n_censor``: censored from
        that time until the next event time), ``last_time`` (the last follow-up time, where the
        curve ends), ``at_times`` (estimates at ``times``; None beyond
        the last follow-up, 0 once the curve reached 0), ``median`` (days/years with CI; None =
        not reached), ``quantiles`` (the same for each p), ``rmst`` (restricted mean, its
        standard error and normal CI, in days),
        ``risk_table``, ``censor_times``, ``n``, ``n_events``, ``warnings``.
        ``std_err`` is on the survival scale (R ``summary(survfit)$std.err``); it and the CI
        are None where the estimate has dropped to 0.
    """
    d = check_durations(durations)
    e = check_events(events)
    check_same_length(duration=d, event=e)
    z = _z(conf_level)
    warnings: list[str] = []
    if len(d) == 0:
        warnings.append("no patients: nothing to estimate")
    elif e.sum() == 0:
        warnings.append("no events: survival stays 1 and the median is not reached")

    steps = _km_steps(d, e)
    curve, (x, lower, upper) = _curve(steps, z, times)
    result = {
        "n": len(d),
        "n_events": int(e.sum()),
        "n_censored": int(len(d) - e.sum()),
        "conf_level": conf_level,
        "conf_type": "log",
        **curve,
        "risk_table": number_at_risk(d, risk_times)
        if len(d)
        else [{"time": float(t), "time_years": to_years(float(t)), "n_at_risk": 0} for t in risk_times],
        "censor_times": np.unique(d[e == 0]),
        "quantiles": [_quantile(x, steps["surv"], lower, upper, float(p)) for p in quantiles],
        "rmst": _restricted_mean(steps, float(rmst_tau), z) if rmst_tau is not None and len(d) else None,
        "warnings": warnings,
    }
    return clean(result)


def kaplan_meier_by_group(durations, events, groups, **kwargs) -> dict:
    """:func:`kaplan_meier` for each level of ``groups`` (empty levels reported in warnings).

    Returns ``{"groups": {level: kaplan_meier result}, "warnings": [...]}``; level keys are
    strings.
    """
    d = check_durations(durations)
    e = check_events(events)
    g = check_groups(groups)
    check_same_length(duration=d, event=e, group=g)
    levels, empty = group_levels(groups, g)
    out = {}
    for lv in levels:
        in_group = g == lv
        out[str(lv)] = kaplan_meier(d[in_group], e[in_group], **kwargs)
    warnings = [f"group '{lv}' has no patients and is left out" for lv in empty]
    return clean({"groups": out, "warnings": warnings})


def rmst_difference(durations, events, groups, *, tau: float = DEFAULT_RMST_TAU, conf_level: float = 0.95) -> dict:
    """Difference in restricted mean survival time up to ``tau`` days between two groups.

    ``difference`` = RMST of the second level minus that of the first (levels in sorted or
    categorical order), with standard error sqrt(se1^2 + se2^2) (independent groups), a normal
    confidence interval and a two-sided z-test P. Each group's RMST and SE is R's
    ``print(survfit, rmean = tau)``.
    """
    d = check_durations(durations)
    e = check_events(events)
    g = check_groups(groups)
    check_same_length(duration=d, event=e, group=g)
    levels, _ = group_levels(groups, g)
    levels = [lv for lv in levels if (g == lv).any()]
    if len(levels) != 2:
        raise StatsInputError(f"an RMST difference needs exactly two groups with patients, got {len(levels)}")
    z = _z(conf_level)
    each = [_restricted_mean(_km_steps(d[g == lv], e[g == lv]), float(tau), z) for lv in levels]
    difference = each[1]["rmst"] - each[0]["rmst"]
    se = float(np.hypot(each[0]["std_err"], each[1]["std_err"]))
    return clean(
        {
            "tau": float(tau),
            "groups": [str(lv) for lv in levels],
            "rmst": [x["rmst"] for x in each],
            "std_err": [x["std_err"] for x in each],
            "difference": difference,
            "difference_std_err": se,
            "lower": difference - z * se,
            "upper": difference + z * se,
            "p": float(2 * norm.sf(abs(difference / se))) if se > 0 else None,
        }
    )


def reverse_km_median_followup(durations, events, *, conf_level: float = 0.95) -> dict:
    """Median follow-up by the reverse Kaplan-Meier method.

    The event indicator is swapped (censoring becomes the "event", an event censors follow-up),
    as R ``survfit(Surv(duration, 1 - event) ~ 1)``; its median is the median follow-up.

    Parameters
    ----------
    durations : array-like of float
        Days from origin to event or last contact.
    events : array-like of {0, 1}
        1 = endpoint event, 0 = censored (alive at last contact).

    Returns
    -------
    dict
        ``median_days``, ``median_years``, their CI (``lower_days`` ...), ``n``, and
        ``range_days`` (min, max of all follow-up times), ``warnings``.
    """
    d = check_durations(durations)
    e = check_events(events)
    check_same_length(duration=d, event=e)
    km = kaplan_meier(d, 1 - e, times=(), conf_level=conf_level, risk_times=())
    med = km["median"]
    warnings = list(km["warnings"])
    if len(d) and med["time"] is None:
        warnings.append("median follow-up not reached (most patients had an event early)")
    return clean(
        {
            "method": "reverse Kaplan-Meier",
            "n": len(d),
            "median_days": med["time"],
            "median_years": med["time_years"],
            "lower_days": med["lower"],
            "upper_days": med["upper"],
            "range_days": [float(d.min()), float(d.max())] if len(d) else None,
            "warnings": warnings,
        }
    )
