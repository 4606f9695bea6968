"""Cox proportional-hazards models (Efron or Breslow ties), matching R ``survival::coxph``.

The fit is our own (``_cox_fit.py``): Newton-Raphson on the partial likelihood from beta = 0
with R's rules (at most 20 iterations, stop at a relative change in the log-likelihood of 1e-9,
step halving), vectorised with numpy so that a million patients take seconds. It covers
right-censored and counting-process (start, stop] data, Efron's and Breslow's ties and strata.
lifelines' ``CoxPHFitter`` and ``CoxTimeVaryingFitter`` fit the same likelihood and remain the
cross-check in the tests.

From the same sums come what R reports beside the coefficients: the null log-likelihood and
score (log-rank) test at beta = 0, the global Wald and likelihood-ratio tests, R's check for
coefficients that may be infinite, Harrell's concordance, and the proportional-hazards test of
R's ``cox.zph`` in survival >= 3.0 (transform "km"): a score test, at the fitted coefficients,
for adding x * g(t) terms. That is NOT the older Grambsch-Therneau approximation that lifelines'
``proportional_hazard_test`` and survival < 3.0 use, which gives different numbers.

Times are in days. ``event`` = 1 means the event happened at the end of the interval;
0 means censored there. The counting-process model, :func:`cox_time_varying`, is in
``cox_time_varying.py`` and shares the fitting and summaries below.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2 as chi2_dist
from scipy.stats import norm

from ._common import StatsInputError, as_float_array, check_durations, check_events, clean
from ._cox_fit import (
    ITER_MAX,
    CoxData,
    concordance,
    infinite_terms,
    linear_predictor,
    make_data,
    newton_raphson,
    solve,
    zph_statistics,
)

TIES = ("efron", "breslow")


# ---------------------------------------------------------------- input preparation


def _independent(x: np.ndarray) -> list[int]:
    """Columns of ``x`` (centred) that are not linear combinations of earlier ones.

    The rule is numpy's ``matrix_rank`` of the columns kept so far plus the next one, worked
    on the R factor of one QR decomposition (same singular values, without an SVD of n rows per
    column). When the correlation matrix is clearly non-singular every column is kept at once.
    """
    scale = np.sqrt((x * x).sum(0))
    corr = (x.T @ x) / np.outer(scale, scale)
    if np.linalg.eigvalsh(corr).min() > 1e-6:
        return list(range(x.shape[1]))
    r = np.linalg.qr(x, mode="r")
    kept: list[int] = []
    for j in range(x.shape[1]):
        sv = np.linalg.svd(r[:, [*kept, j]], compute_uv=False)
        if (sv > sv.max() * max(x.shape[0], len(kept) + 1) * np.finfo(float).eps).sum() == len(kept) + 1:
            kept.append(j)
    return kept


def _covariate_matrix(frame: pd.DataFrame, covariates, warnings: list[str]):
    """Numeric covariate columns, centred; constant or aliased columns are dropped with a warning."""
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    if not covariates:
        raise StatsInputError("no covariates given")
    missing = [c for c in covariates if c not in frame.columns]
    if missing:
        raise StatsInputError(f"covariate column(s) not in the data: {missing}")
    names, cols = [], []
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
        names.append(name)
        cols.append(values - values.mean())
    if not names:
        raise StatsInputError("no covariate with variation is left to fit: " + "; ".join(warnings))
    x = np.column_stack(cols)
    kept = _independent(x)
    for j in sorted(set(range(len(names))) - set(kept)):
        warnings.append(f"covariate '{names[j]}' is a linear combination of earlier covariates and was dropped")
    return np.ascontiguousarray(x[:, kept]), [names[j] for j in kept]


def _check_ties(ties):
    if ties not in TIES:
        raise StatsInputError(f"ties must be one of {', '.join(TIES)}; got {ties!r}")
    return ties


def _make_data(start, stop, event, x, names, ties, strata_values=None) -> CoxData:
    """The rows prepared for fitting; with ``strata_values``, risk sets within each level (R's
    ``strata()``), levels sorted and reported as text."""
    strata = None
    if strata_values is not None:
        codes, labels = pd.factorize(pd.Series(strata_values, dtype=object), sort=True)
        if codes.min() < 0:
            raise StatsInputError("column 'strata' has missing values")
        strata = (codes, [str(label) for label in labels])
    return make_data(start, stop, event, x, names, ties, strata)


# ---------------------------------------------------------------- fit and summary


def _fit_and_summarise(data: CoxData, conf_level: float, warnings_: list[str], extra: dict) -> dict:
    p = len(data.names)
    z_crit = float(norm.ppf(1 - (1 - conf_level) / 2))
    fit = newton_raphson(data, ITER_MAX)
    loglik0, score_test = fit["loglik0"], fit["score_test"]
    if fit["error"] is not None:
        warnings_.append(f"the Cox model could not be fitted ({fit['error']}); no estimates")
        beta, var, loglik, infinite = np.full(p, np.nan), np.full((p, p), np.nan), np.nan, []
    else:
        beta, var, loglik = fit["beta"], fit["var"], fit["loglik"]
        if fit["failed"]:
            warnings_.append(
                f"the Cox fit did not converge in {ITER_MAX} Newton-Raphson iterations (R's limit); "
                "estimates are not reliable (one or more coefficients may be infinite)"
            )
            infinite = []
        else:
            infinite = infinite_terms(beta, fit["score"], var)
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
        wald = float(beta @ solve(var, beta))  # = beta' I beta, as R
    else:
        wald = np.nan
    lrt = 2 * (loglik - loglik0)
    reliable = fit["error"] is None and not fit["failed"] and not infinite
    zph = None
    if reliable and np.all(np.isfinite(var)):
        per_term, overall = zph_statistics(data, fit["evaluation"], fit["info"])
        zph = {
            "transform": "km",
            "terms": [
                {"term": name, "chi2": chi2, "df": 1, "p": float(chi2_dist.sf(chi2, 1))}
                for name, chi2 in zip(data.names, per_term, strict=True)
            ],
            "global": {"chi2": overall, "df": p, "p": float(chi2_dist.sf(overall, p))},
        }
    harrell = None if fit["error"] is not None else concordance(data, linear_predictor(data.xt, beta))
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
            "concordance": harrell,
            "ph_test": zph,
            "converged": bool(reliable),
            "iterations": fit["iterations"],
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
        ``iterations`` (Newton-Raphson iterations, as R's ``fit$iter``), ``loglik`` (null and
        fitted), ``warnings``.

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
    strata_values = frame[strata].to_numpy() if strata else None
    data = _make_data(np.full(len(duration), -np.inf), duration, event, x, names, _check_ties(ties), strata_values)
    return _fit_and_summarise(data, conf_level, warnings, {"n": len(duration)})
