"""Cox proportional-hazards models (Efron or Breslow ties), matching R ``survival::coxph``.

Fitting is done by lifelines: ``CoxPHFitter`` for right-censored data and
``CoxTimeVaryingFitter`` for counting-process data (start, stop]; both use Efron's ties. They
run with a much tighter stopping rule than lifelines' default (``_FIT_OPTIONS``), so their
coefficients agree with R to about 1e-7 or better (R itself stops at a relative loglik change
of 1e-9). Coefficients, standard errors, the fitted log-likelihood and (right-censored data)
Harrell's concordance come from lifelines.

Our own code (an Efron partial likelihood with per-event-time score / information) supplies
what lifelines lacks or defines differently from R: the null log-likelihood and score
(log-rank) test at beta = 0, the global Wald test, R's check for coefficients that may be
infinite, concordance for counting-process data, and the proportional-hazards test of R's
``cox.zph`` in survival >= 3.0 (transform "km"): a score test, at the fitted coefficients, for
adding x * g(t) terms. That is NOT the older Grambsch-Therneau approximation that lifelines'
``proportional_hazard_test`` and survival < 3.0 use, which gives different numbers.

Times are in days. ``event`` = 1 means the event happened at the end of the interval;
0 means censored there. The counting-process model, :func:`cox_time_varying`, is in
``cox_time_varying.py`` and shares the fitting and summaries below.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, CoxTimeVaryingFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning, StatisticalWarning
from lifelines.utils import concordance_index
from scipy.stats import chi2 as chi2_dist
from scipy.stats import norm

from ._common import StatsInputError, as_float_array, check_durations, check_events, clean

# R coxph.control() defaults, used for R's "coefficient may be infinite" check
_EPS = 1e-9
_TOLER_INF = np.sqrt(_EPS)
# lifelines Newton-Raphson: stop when the step or the Newton decrement is below 1e-16 on
# lifelines' standardised scale; r_precision = 0 switches off its looser relative-loglik rule
_FIT_OPTIONS = {"step_size": 0.95, "precision": 1e-16, "r_precision": 0.0, "max_steps": 500}


@dataclass
class _CoxData:
    """Rows, and sorted views of them, to sum over risk sets in O(n log n).

    A row is at risk at an event time t if start < t <= stop. Sums over risk sets are suffix
    sums over rows sorted by stop (stop >= t) minus those over rows sorted by start
    (start >= t), so no (event times x rows) matrix is ever built.
    """

    start: np.ndarray  # (n,) interval start, exclusive (-inf for right-censored data)
    stop: np.ndarray  # (n,) interval end (event or censoring time)
    event: np.ndarray  # (n,) 0/1
    x: np.ndarray  # (n, p) covariates, centred on their means
    names: list[str]
    event_times: np.ndarray  # (m,) distinct event times
    stop_order: np.ndarray  # rows sorted by stop
    start_order: np.ndarray  # rows sorted by start
    stop_cut: np.ndarray  # (m,) first position in stop order with stop >= t
    start_cut: np.ndarray  # (m,) first position in start order with start >= t
    dead_rows: np.ndarray  # rows with an event
    dead_at: np.ndarray  # index of each dead row's event time
    ties: str = "efron"  # how tied event times share the risk set: "efron" or "breslow"
    strata: list | None = None  # stratum labels of a stratified model (see _stratify)
    km: np.ndarray | None = None  # cox.zph's km transform at each event time, if not from these rows


def _suffix_sums(values, order, cut):
    ordered = values[order]
    sums = np.concatenate([np.cumsum(ordered[::-1], axis=0)[::-1], np.zeros((1, *ordered.shape[1:]))])
    return sums[cut]


def _risk_sum(data: _CoxData, values: np.ndarray) -> np.ndarray:
    """For each event time, the sum of ``values`` (n, ...) over the rows at risk."""
    return _suffix_sums(values, data.stop_order, data.stop_cut) - _suffix_sums(values, data.start_order, data.start_cut)


def _dead_sum(data: _CoxData, values: np.ndarray) -> np.ndarray:
    """For each event time, the sum of ``values`` (n, ...) over the rows with their event then."""
    out = np.zeros((len(data.event_times), *values.shape[1:]))
    np.add.at(out, data.dead_at, values[data.dead_rows])
    return out


# ---------------------------------------------------------------- input preparation


def _covariate_matrix(frame: pd.DataFrame, covariates, warnings: list[str]):
    """Numeric covariate columns; constant or aliased columns are dropped with a warning."""
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    if not covariates:
        raise StatsInputError("no covariates given")
    missing = [c for c in covariates if c not in frame.columns]
    if missing:
        raise StatsInputError(f"covariate column(s) not in the data: {missing}")
    kept, cols = [], []
    for name in covariates:
        col = frame[name]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise StatsInputError(
                f"covariate column '{name}' is not numeric; give categorical covariates as 0/1 dummy columns"
            )
        values = as_float_array(col.astype(float), name)
        if len(values) and np.ptp(values) == 0:
            warnings.append(f"covariate '{name}' has no variation (all {values[0]:g}) and was dropped")
            continue
        candidate = np.column_stack([*cols, values - values.mean()]) if cols else (values - values.mean())[:, None]
        if np.linalg.matrix_rank(candidate) < candidate.shape[1]:
            warnings.append(f"covariate '{name}' is a linear combination of earlier covariates and was dropped")
            continue
        kept.append(name)
        cols.append(values - values.mean())
    if not kept:
        raise StatsInputError("no covariate with variation is left to fit: " + "; ".join(warnings))
    return np.column_stack(cols), kept


TIES = ("efron", "breslow")


def _check_ties(ties):
    if ties not in TIES:
        raise StatsInputError(f"ties must be one of {', '.join(TIES)}; got {ties!r}")
    return ties


def _make_data(start, stop, event, x, names, ties="efron") -> _CoxData:
    event_times = np.unique(stop[event == 1])
    stop_order = np.argsort(stop, kind="stable")
    start_order = np.argsort(start, kind="stable")
    dead_rows = np.flatnonzero(event == 1)
    return _CoxData(
        start,
        stop,
        event,
        x,
        names,
        event_times,
        stop_order=stop_order,
        start_order=start_order,
        stop_cut=np.searchsorted(stop[stop_order], event_times, side="left"),
        start_cut=np.searchsorted(start[start_order], event_times, side="left"),
        dead_rows=dead_rows,
        dead_at=np.searchsorted(event_times, stop[dead_rows]),
        ties=ties,
    )


def _stratify(data: _CoxData, strata_values) -> _CoxData:
    """The same rows with risk sets formed within each stratum, as R's ``strata()``.

    Each stratum's follow-up is moved to its own stretch of the time axis (offset k x span,
    span beyond every stop time), so the O(n log n) risk-set sums never mix strata. cox.zph's
    transform stays the Kaplan-Meier of all rows on the original time scale, as in R.
    """
    codes, labels = pd.factorize(pd.Series(strata_values, dtype=object), sort=True)
    if codes.min() < 0:
        raise StatsInputError("column 'strata' has missing values")
    span = float(np.max(data.stop)) + 1.0
    offset = codes * span
    start = np.where(np.isfinite(data.start), data.start + offset, offset - 0.5)
    shifted = _make_data(start, data.stop + offset, data.event, data.x, data.names, data.ties)
    original = shifted.event_times - np.floor(shifted.event_times / span) * span
    km = _km_transform(data)[np.searchsorted(data.event_times, original)]
    shifted.strata, shifted.km = [str(label) for label in labels], km
    return shifted


# ---------------------------------------------------------------- Efron partial likelihood


def _efron(beta: np.ndarray, data: _CoxData):
    """Log partial likelihood, and score / information contributions per event time.

    Returns (loglik, u_t (m, p), v_t (m, p, p)); the score is u_t.sum(0) and the observed
    information v_t.sum(0). For d tied deaths at t, Efron's approximation reduces the
    risk-set sums by r/d of the deaths' sums, r = 0..d-1; Breslow's (``data.ties ==
    "breslow"``, Stata's default) uses the whole risk set d times.
    """
    x = data.x
    eta = x @ beta
    w = np.exp(eta)
    wx = w[:, None] * x
    wxx = wx[:, :, None] * x[:, None, :]
    s0, s1, s2 = _risk_sum(data, w), _risk_sum(data, wx), _risk_sum(data, wxx)
    d0, d1, d2 = _dead_sum(data, w), _dead_sum(data, wx), _dead_sum(data, wxx)
    n_dead = _dead_sum(data, np.ones(len(w)))

    loglik = float(eta[data.dead_rows].sum())
    u_t = _dead_sum(data, x)
    v_t = np.zeros_like(s2)
    for r in range(int(n_dead.max()) if len(n_dead) else 0):
        active = n_dead > r
        frac = np.where(active & (data.ties == "efron"), r / np.maximum(n_dead, 1), 0.0)
        den = s0 - frac * d0
        a = (s1 - frac[:, None] * d1) / den[:, None]
        b = (s2 - frac[:, None, None] * d2) / den[:, None, None]
        loglik -= float(np.log(den[active]).sum())
        u_t -= np.where(active[:, None], a, 0.0)
        v_t += np.where(active[:, None, None], b - a[:, :, None] * a[:, None, :], 0.0)
    return loglik, u_t, v_t


def _solve(mat, vec):
    try:
        return np.linalg.solve(mat, vec)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(mat, vec, rcond=None)[0]


def _lifelines_message(warning) -> str:
    """A lifelines warning / error message on one line, without its pointers to the docs."""
    text = " ".join(str(warning).split())
    text = re.split(r"\s*(?:(?:Please see|See) (?:the following tips|https?://)|For example,)", text)[0]
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _rename_back(text: str, names: list[str]) -> str:
    return re.sub(r"__cov(\d+)", lambda m: names[int(m.group(1))], text)


def _lifelines_fit(data: _CoxData, counting_process: bool) -> dict:
    """Fit with lifelines (Efron ties): CoxPHFitter, or CoxTimeVaryingFitter for (start, stop].

    Covariates are passed under neutral names (lifelines reserves e.g. 'event', 'start').
    Returns beta, variance matrix, log-likelihood,
    ``failed`` (lifelines did not converge), lifelines' warnings, and ``error`` (a
    ConvergenceError / singular matrix: no estimates at all).
    """
    cols = [f"__cov{j}" for j in range(len(data.names))]
    df = pd.DataFrame(data.x, columns=cols)
    df["__stop"] = data.stop
    df["__event"] = data.event
    out = {"beta": None, "var": None, "loglik": np.nan, "failed": False, "error": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if counting_process:
                df["__start"] = data.start
                model = CoxTimeVaryingFitter().fit(
                    df, event_col="__event", start_col="__start", stop_col="__stop", fit_options=dict(_FIT_OPTIONS)
                )
            else:
                model = CoxPHFitter().fit(df, "__stop", "__event", fit_options=dict(_FIT_OPTIONS))
            out["beta"] = model.params_.loc[cols].to_numpy(dtype=float)
            # CoxTimeVaryingFitter leaves the columns unnamed: they follow the row order
            var = model.variance_matrix_
            var = pd.DataFrame(var.to_numpy(dtype=float), index=var.index, columns=var.index)
            out["var"] = var.loc[cols, cols].to_numpy()
            out["loglik"] = float(model.log_likelihood_)
        except (ConvergenceError, np.linalg.LinAlgError) as exc:
            out["error"] = _rename_back(_lifelines_message(exc), data.names)
    messages = [
        _rename_back(_lifelines_message(w.message), data.names)
        for w in caught
        if issubclass(w.category, (ConvergenceWarning, StatisticalWarning))
    ]
    out["failed"] = any("failed to converge" in m or "suspiciously close to 0" in m for m in messages)
    out["messages"] = list(dict.fromkeys(messages))
    return out


_MAX_ITER = 30


_R_ITER_MAX = 20  # coxph.control()$iter.max


def _newton_raphson_fit(data: _CoxData, *, r_rule: bool = False) -> dict:
    """Efron Cox fit for (start, stop] data by Newton-Raphson with step halving, as R coxph.fit.

    Used instead of lifelines' CoxTimeVaryingFitter, whose gradient loops over every event time
    and every row (34 s for 100,000 patients, against well under a second here); the two agree
    to 1e-6 on the reference data (tests/analysis/stats/test_cox.py). Stops when
    |1 - loglik_old / loglik_new| <= 1e-9 and the last step is below 1e-10 (relative). Returns the
    same dict as :func:`_lifelines_fit`.
    """
    p = len(data.names)
    beta = np.zeros(p)
    out = {"beta": None, "var": None, "loglik": np.nan, "concordance": None, "failed": False, "error": None}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loglik, u_t, v_t = _efron(beta, data)
        for _ in range(_R_ITER_MAX if r_rule else _MAX_ITER):
            score, info = u_t.sum(0), v_t.sum(0)
            try:
                step = np.linalg.solve(info, score)
            except np.linalg.LinAlgError:
                out["error"] = "the information matrix is singular"
                out["messages"] = []
                return out
            new_beta = beta + step
            new_loglik, new_u, new_v = _efron(new_beta, data)
            halvings = 0
            # Halve a step that lowers the log-likelihood (beyond rounding noise near the optimum).
            while (not np.isfinite(new_loglik) or new_loglik < loglik - 1e-12 * abs(loglik)) and halvings < 30:
                new_beta = (beta + new_beta) / 2
                new_loglik, new_u, new_v = _efron(new_beta, data)
                halvings += 1
            # R's rule on the log-likelihood, plus a small final step, so the estimate is as
            # precise as lifelines' on the same data (Newton converges quadratically).
            small_step = np.all(np.abs(step) <= 1e-10 * (1 + np.abs(new_beta)))
            loglik_rule = abs(1 - loglik / new_loglik) <= _EPS if new_loglik else True
            done = loglik_rule and (small_step or r_rule)
            beta, loglik, u_t, v_t = new_beta, new_loglik, new_u, new_v
            if done:
                break
        else:
            out["failed"] = True
        try:
            var = np.linalg.inv(v_t.sum(0))
        except np.linalg.LinAlgError:
            out["error"] = "the information matrix is singular"
            out["messages"] = []
            return out
    out.update(beta=beta, var=var, loglik=loglik, messages=[])
    if out["failed"]:
        out["messages"] = [f"Newton-Raphson failed to converge in {_MAX_ITER} steps."]
    return out


# ---------------------------------------------------------------- extra statistics


# Above this many (event time x row) comparisons, concordance of (start, stop] data is skipped.
_CONCORDANCE_LIMIT = 20_000_000


def _concordance(data: _CoxData, eta: np.ndarray) -> float | None:
    """Harrell's C as R's coxph: each event compared with everybody at risk at its time who
    has no event then (censored at that time counts as at risk); ties in eta count 1/2.
    None when the data are too large for this pairwise count (see _CONCORDANCE_LIMIT)."""
    if len(data.event_times) * len(eta) > _CONCORDANCE_LIMIT:
        return None
    concordant = discordant = tied = 0.0
    for t in data.event_times:
        dead = (data.stop == t) & (data.event == 1)
        others = (data.start < t) & (data.stop >= t) & ~dead
        if not others.any():
            continue
        diff = eta[dead][:, None] - eta[others][None, :]
        concordant += (diff > 0).sum()
        discordant += (diff < 0).sum()
        tied += (diff == 0).sum()
    total = concordant + discordant + tied
    return None if total == 0 else float((concordant + tied / 2) / total)


def _harrell_c(durations: np.ndarray, events: np.ndarray, eta: np.ndarray) -> float | None:
    """Harrell's C of right-censored data as R's coxph reports it, in O(n log n).

    Equal linear predictors count as ties (1/2) exactly: ``eta`` is replaced by its ranks
    before lifelines counts the pairs, so two patients with identical covariates can never
    differ in the last digit (lifelines' own partial hazards can, which miscounts ties)."""
    if not len(eta) or not np.all(np.isfinite(eta)):
        return None
    _, ranks = np.unique(eta, return_inverse=True)
    try:
        return float(concordance_index(durations, -ranks, events))
    except ZeroDivisionError:  # no comparable pairs
        return None


def _km_transform(data: _CoxData) -> np.ndarray:
    """1 - S(t-) at each distinct event time, S the Kaplan-Meier of the (start, stop] data."""
    ones = np.ones(len(data.stop))
    n_risk = _risk_sum(data, ones)
    n_dead = _dead_sum(data, ones)
    surv = np.cumprod(1 - n_dead / n_risk)
    surv_before = np.concatenate([[1.0], surv[:-1]])
    return 1 - surv_before


def _zph(data: _CoxData, beta: np.ndarray) -> dict:
    """Proportional-hazards test as R cox.zph (survival >= 3.0, transform = "km").

    Score test at (beta_hat, gamma = 0) for the model with extra covariates x * g(t), where
    g(t) = km(t) - mean of km over the events. Per term: 1 df; global: p df.
    """
    _, u_t, v_t = _efron(beta, data)
    n_dead = _dead_sum(data, np.ones(len(data.stop)))
    km = _km_transform(data) if data.km is None else data.km
    g = km - (km * n_dead).sum() / n_dead.sum()  # centre over event rows (ties counted each)
    p = len(beta)
    u2 = (g[:, None] * u_t).sum(0)
    i11 = v_t.sum(0)
    i12 = (g[:, None, None] * v_t).sum(0)
    i22 = ((g**2)[:, None, None] * v_t).sum(0)
    imat = np.block([[i11, i12], [i12.T, i22]])
    u_full = np.concatenate([np.zeros(p), u2])

    def score_test(idx):
        sub = imat[np.ix_(idx, idx)]
        u = u_full[idx]
        return float(u @ _solve(sub, u))

    rows = []
    for j, name in enumerate(data.names):
        stat = score_test(list(range(p)) + [p + j])
        rows.append({"term": name, "chi2": stat, "df": 1, "p": float(chi2_dist.sf(stat, 1))})
    stat = score_test(list(range(2 * p)))
    return {"transform": "km", "terms": rows, "global": {"chi2": stat, "df": p, "p": float(chi2_dist.sf(stat, p))}}


def _infinite_terms(beta, score, info) -> list[int]:
    """R coxph.fit's check: the next Newton step is still large relative to the coefficient."""
    try:
        var = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return list(range(len(beta)))
    step = np.abs(score @ var)
    bad = ~np.isfinite(score) | ~np.isfinite(step) | ((step > _EPS) & (step > _TOLER_INF * np.abs(beta)))
    return [int(i) for i in np.flatnonzero(bad)]


def _fit_and_summarise(
    data: _CoxData, conf_level: float, warnings_: list[str], extra: dict, counting_process: bool
) -> dict:
    p = len(data.names)
    z_crit = float(norm.ppf(1 - (1 - conf_level) / 2))
    # lifelines fits right-censored Efron models; our Newton-Raphson the rest (same likelihood code).
    own = counting_process or data.ties != "efron" or data.strata is not None
    fit = _newton_raphson_fit(data) if own else _lifelines_fit(data, counting_process)
    if fit["error"] is not None and not own:
        # lifelines gives up on a monotone likelihood (a covariate that separates the events);
        # R's coxph stops by its own rule and reports the others' finite estimates, flagging the
        # diverging one: so do we, with R's iteration rule and limit.
        fallback = _newton_raphson_fit(data, r_rule=True)
        if fallback["error"] is None:
            fit = {**fallback, "messages": [*fit["messages"], f"refitted by Newton-Raphson ({fit['error']})"]}
    warnings_.extend(f"lifelines: {m}" for m in fit["messages"])

    # null model (beta = 0): log-likelihood and score test need no fitting
    loglik0, u0, v0 = _efron(np.zeros(p), data)
    score0, info0 = u0.sum(0), v0.sum(0)
    score_test = float(score0 @ _solve(info0, score0))

    if fit["error"] is not None:
        warnings_.append(f"lifelines could not fit the model ({fit['error']}); no estimates")
        beta, var, loglik, infinite = np.full(p, np.nan), np.full((p, p), np.nan), np.nan, []
    else:
        beta, var, loglik = fit["beta"], fit["var"], fit["loglik"]
        if fit["failed"]:
            warnings_.append(
                f"the Cox fit did not converge in {_FIT_OPTIONS['max_steps']} Newton-Raphson steps; "
                "estimates are not reliable (one or more coefficients may be infinite)"
            )
            infinite = []
        else:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                _, u_t, v_t = _efron(beta, data)
            infinite = _infinite_terms(beta, u_t.sum(0), v_t.sum(0))
        if not np.all(np.isfinite(var)) or np.any(np.diag(var) < 0):
            var = np.full((p, p), np.nan)
            warnings_.append("information matrix is singular: standard errors are not available")
    if infinite:
        names = ", ".join(data.names[i] for i in infinite)
        warnings_.append(
            f"loglik converged before covariate(s) {names}; coefficient may be infinite "
            "(monotone likelihood, e.g. a covariate that separates events perfectly)"
        )

    se = np.sqrt(np.diag(var))
    terms = []
    for j, name in enumerate(data.names):
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging coefficient: infinite upper limit -> None
            ci = (np.exp(beta[j] - z_crit * se[j]), np.exp(beta[j] + z_crit * se[j]))
            z = beta[j] / se[j] if se[j] > 0 else np.nan
        terms.append(
            {
                "term": name,
                "coef": beta[j],
                "se": se[j],
                "hazard_ratio": np.exp(beta[j]),
                "lower": ci[0],
                "upper": ci[1],
                "z": z,
                "p": 2 * norm.sf(abs(z)) if np.isfinite(z) else np.nan,
                "possibly_infinite": j in infinite,
            }
        )

    if np.all(np.isfinite(var)) and np.all(np.isfinite(beta)):
        wald = float(beta @ _solve(var, beta))  # = beta' I beta, as R
    else:
        wald = np.nan
    lrt = 2 * (loglik - loglik0)
    reliable = fit["error"] is None and not fit["failed"] and not infinite
    zph = _zph(data, beta) if reliable and np.all(np.isfinite(var)) else None
    if fit["error"] is not None:
        concordance = None
    elif counting_process or data.strata is not None:  # pairs within the risk sets (and strata)
        concordance = _concordance(data, data.x @ beta)
        if concordance is None and len(data.event_times):
            warnings_.append("concordance not computed: too many (event time x interval) pairs for this data size")
    else:
        concordance = _harrell_c(data.stop, data.event, data.x @ beta)
    return clean(
        {
            "method": f"Cox proportional hazards, {data.ties.title()} ties",
            "ties": data.ties,
            "strata": data.strata,
            **extra,
            "n_events": int(data.event.sum()),
            "covariates": data.names,
            "terms": terms,
            "conf_level": conf_level,
            "loglik": [loglik0, loglik],
            "wald_test": {"chi2": wald, "df": p, "p": chi2_dist.sf(wald, p) if np.isfinite(wald) else None},
            "likelihood_ratio_test": {
                "chi2": lrt,
                "df": p,
                "p": chi2_dist.sf(lrt, p) if np.isfinite(lrt) else None,
            },
            "score_test": {"chi2": score_test, "df": p, "p": chi2_dist.sf(score_test, p)},
            "concordance": concordance,
            "ph_test": zph,
            "converged": bool(reliable),
            "iterations": None,  # lifelines does not report its Newton-Raphson step count
            "warnings": warnings_,
        }
    )


def _check_frame(frame, columns):
    if not isinstance(frame, pd.DataFrame):
        raise StatsInputError("frame must be a pandas DataFrame")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StatsInputError(f"column(s) not in the data: {missing}")


def _check_has_events(event, name):
    if len(event) == 0:
        raise StatsInputError("no rows: a Cox model needs data")
    if event.sum() == 0:
        raise StatsInputError(f"column '{name}' has no events: a Cox model cannot be fitted")


# ---------------------------------------------------------------- public functions


def cox_model(
    frame: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates,
    *,
    conf_level: float = 0.95,
    ties="efron",
    strata: str | None = None,
) -> dict:
    """Cox proportional-hazards model, as R ``coxph(Surv(duration, event) ~ covariates
    [+ strata(s)], ties = ties)``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient.
    duration_col : str
        Days from the origin to the event or censoring (>= 0).
    event_col : str
        1 = event at ``duration``, 0 = censored at ``duration``.
    covariates : list of str
        Numeric columns. Categorical covariates must be given as 0/1 dummy columns (the caller
        chooses the reference level). Columns without variation, or aliased with earlier ones,
        are dropped and reported in ``warnings``.
    conf_level : float
        Level of the hazard-ratio confidence intervals (default 95%).
    ties : {"efron", "breslow"}
        Handling of tied event times: Efron (R's default) or Breslow (Stata's default).
    strata : str, optional
        Column whose levels get their own baseline hazard (risk sets within each level).

    Returns
    -------
    dict
        ``terms`` (per covariate: coef (log hazard ratio per unit), se, hazard_ratio,
        lower/upper (hazard-ratio scale), z, Wald p, possibly_infinite), ``wald_test``,
        ``likelihood_ratio_test``, ``score_test``, ``n``, ``n_events``, ``concordance``,
        ``ph_test`` (R cox.zph, per term and global; None if the fit is unreliable),
        ``converged`` (False if the iterations did not converge or a coefficient diverges),
        ``warnings``.

    Raises
    ------
    StatsInputError
        Missing columns, NaN, negative durations, event not 0/1, no events, or no covariate
        with variation.
    """
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    _check_frame(frame, [duration_col, event_col, *covariates, *([strata] if strata else [])])
    duration = check_durations(frame[duration_col], duration_col)
    event = check_events(frame[event_col], event_col)
    _check_has_events(event, event_col)
    warnings: list[str] = []
    x, names = _covariate_matrix(frame, covariates, warnings)
    data = _make_data(np.full(len(duration), -np.inf), duration, event, x, names, _check_ties(ties))
    if strata:
        data = _stratify(data, frame[strata].to_numpy())
    return _fit_and_summarise(data, conf_level, warnings, {"n": len(duration)}, counting_process=False)
