"""The Cox partial likelihood, its Newton-Raphson fit and the statistics that reuse its sums.

Everything here is vectorised: the rows are binned once by event-time index, and each
evaluation of the likelihood costs O(n p^2) (a few sparse products, cumulative sums over the
m distinct event times and one weighted Gram matrix X' diag(c) X); nothing loops over rows or
event times in Python. Written from the definitions (Cox 1972; Efron 1977; Therneau and
Grambsch 2000, ch. 3 and 6), checked against R ``survival::coxph`` in tests/analysis/stats.

Notation. Event times t_1 < ... < t_m. Row i is at risk at t_k when start_i < t_k <= stop_i,
i.e. for lo_i <= k < hi_i with hi_i = #{t_k <= stop_i} and lo_i = #{t_k <= start_i}. With
w = exp(x'b), S0_k and S1_k are the sums of w and w x over the risk set at t_k, D0_k and D1_k
those over the d_k rows that die at t_k. Efron's approximation splits the d_k tied deaths into
d_k "slots" r = 0..d_k-1 with denominators S0_k - (r/d_k) D0_k (Breslow: r/d_k taken as 0).

The trick that keeps the information matrix O(n p^2): sum_k c_k S2_k (S2 the risk-set sum of
w x x') equals X' diag(w_i * sum of c_k over the event times row i is at risk at) X, so the
(m, p, p) array of risk-set sums is never formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

# R coxph.control(): iter.max = 20, eps = 1e-9 (relative change in the log-likelihood), and
# toler.inf = sqrt(eps) for the "coefficient may be infinite" check
ITER_MAX = 20
EPS = 1e-9
TOLER_INF = np.sqrt(EPS)


def _csr(rows: np.ndarray, per_bin: np.ndarray, n_rows: int) -> sparse.csr_matrix:
    """A sparse (bins x n_rows) 0/1 matrix; ``rows`` lists the rows bin by bin, ``per_bin`` counts them.
    ``M @ v`` then sums v by bin (see :func:`_binned` for weights)."""
    indptr = np.concatenate([[0], np.cumsum(per_bin)])
    return sparse.csr_matrix((np.ones(len(rows)), rows, indptr), shape=(len(per_bin), n_rows))


def _binned(matrix: sparse.csr_matrix, values: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Sums of ``weights * values`` over each bin of ``matrix`` (made by :func:`_csr`)."""
    matrix.data = np.ones(matrix.nnz) if weights is None else weights[matrix.indices]
    return matrix @ values


def _suffix(values: np.ndarray) -> np.ndarray:
    """Sums from each position to the end (along axis 0)."""
    return np.cumsum(values[::-1], axis=0)[::-1]


def _index_of(sorted_times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(#{sorted_times <= v} for each value, the order that sorts ``values``): searching with sorted
    keys, which numpy does many times faster than with keys in random order."""
    order = np.argsort(values)
    index = np.empty(len(values), dtype=np.int64)
    index[order] = np.searchsorted(sorted_times, values[order], side="right")
    return index, order


@dataclass
class CoxData:
    """Rows of a Cox model, sorted by stop time and binned once by event-time index (see the
    module notation). ``start`` is -inf for right-censored data. A stratified model moves each
    stratum to its own stretch of the time axis, so risk sets never mix strata.
    """

    start: np.ndarray  # (n,) interval start, exclusive
    stop: np.ndarray  # (n,) end of the interval: event or censoring time, ascending
    event: np.ndarray  # (n,) 0/1
    x: np.ndarray  # (n, p) covariates, centred on their means (as R)
    xt: np.ndarray  # (p, n) the same, one contiguous row per covariate
    names: list[str]
    ties: str  # "efron" or "breslow"
    event_times: np.ndarray  # (m,)
    hi: np.ndarray  # (n,) at risk at event-time indices lo <= k < hi
    lo: np.ndarray | None  # (n,) None when every row starts before the first event time
    dead: np.ndarray  # (D,) rows with an event, in time order
    dead_at: np.ndarray  # (D,) their event-time index (also each Efron slot's)
    n_dead: np.ndarray  # (m,) d_k
    slot_frac: np.ndarray  # (D,) r / d_k of each Efron slot (0 for Breslow)
    by_hi: sparse.csr_matrix  # (m + 1, n): rows by hi
    by_lo: sparse.csr_matrix | None  # (m + 1, n): rows by lo
    by_death: sparse.csr_matrix  # (m, n): dead rows by event time
    x_dead: np.ndarray  # (m, p) sum of x over the deaths at each event time
    km: np.ndarray  # (m,) cox.zph's transform: 1 - S(t-), Kaplan-Meier of all rows
    strata: list | None = None  # stratum labels of a stratified model


def km_transform(start, stop, event, times) -> np.ndarray:
    """1 - S(t-) at ``times`` (the event times, ascending), S the Kaplan-Meier of (start, stop] rows."""
    stops, starts = np.sort(stop), np.sort(start)
    n_risk = (len(stops) - np.searchsorted(stops, times, side="left")) - (
        len(starts) - np.searchsorted(starts, times, side="left")
    )
    dead = np.sort(stop[event == 1])
    n_dead = np.searchsorted(dead, times, side="right") - np.searchsorted(dead, times, side="left")
    surv = np.cumprod(1 - n_dead / n_risk)
    return 1 - np.concatenate([[1.0], surv[:-1]])


def make_data(start, stop, event, x, names, ties="efron", strata=None) -> CoxData:
    """Sort the rows by stop time and bin them once; every evaluation reuses these indices.

    ``strata``: None or (codes per row, labels). Stratum k is moved by k x span on the time
    axis (span beyond every stop time), as R's ``strata()``; cox.zph's transform stays the
    Kaplan-Meier of all rows on the original time scale, as in R.
    """
    if strata is not None:
        km_times = np.unique(stop[event == 1])
        km = km_transform(start, stop, event, km_times)
        span = float(np.max(stop)) + 1.0
        offset = strata[0] * span
        start = np.where(np.isfinite(start), start + offset, offset - 0.5)
        stop = stop + offset
    order = np.argsort(stop)
    start, stop, event, x = start[order], stop[order], event[order], np.ascontiguousarray(x[order])
    n = len(stop)
    dead = np.flatnonzero(event == 1)
    event_times = np.unique(stop[dead])
    m = len(event_times)
    hi = np.searchsorted(event_times, stop, side="right")  # stop is sorted: a fast search
    dead_at = hi[dead] - 1
    n_dead = np.bincount(dead_at, minlength=m)
    first_slot = np.repeat(np.cumsum(n_dead) - n_dead, n_dead)
    slot_frac = (np.arange(len(dead)) - first_slot) / n_dead[dead_at] if ties == "efron" else np.zeros(len(dead))
    counting = bool(np.any(start >= event_times[0]))  # else every row is at risk from the first event time
    lo, lo_order = _index_of(event_times, start) if counting else (None, None)
    by_death = _csr(dead, n_dead, n)
    if strata is not None:
        km = km[np.searchsorted(km_times, event_times - np.floor(event_times / span) * span)]
    else:
        km = km_transform(start, stop, event, event_times)
    return CoxData(
        start=start,
        stop=stop,
        event=event,
        x=x,
        xt=np.ascontiguousarray(x.T),
        names=names,
        ties=ties,
        event_times=event_times,
        hi=hi,
        lo=lo,
        dead=dead,
        dead_at=dead_at,
        n_dead=n_dead,
        slot_frac=slot_frac,
        by_hi=_csr(np.arange(n), np.bincount(hi, minlength=m + 1), n),
        by_lo=_csr(lo_order, np.bincount(lo, minlength=m + 1), n) if counting else None,
        by_death=by_death,
        x_dead=_binned(by_death, x, None),
        km=km,
        strata=None if strata is None else strata[1],
    )


def risk_sums(data: CoxData, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """For each event time, the sum of ``weights * values`` ((n,) or (n, q)) over the rows at risk."""
    total = _suffix(_binned(data.by_hi, values, weights))[1:]
    if data.lo is not None:
        total = total - _suffix(_binned(data.by_lo, values, weights))[1:]
    return total


# ---------------------------------------------------------------- likelihood, score, information


@dataclass
class Evaluation:
    """The partial likelihood at ``beta`` and what its derivatives need (see :func:`evaluate`)."""

    beta: np.ndarray
    loglik: float
    w: np.ndarray  # (n,) exp(x'b)
    s1: np.ndarray  # (m, p) risk-set sums of w x
    d1: np.ndarray  # (m, p) sums of w x over the deaths
    per_time: dict  # (m,) sums over Efron slots: A = sum 1/den, B = sum f/den, E, F, G with den^2


def linear_predictor(xt: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """x'b (``xt``: covariates by row) summed one covariate at a time, so identical covariate
    rows give bit-identical values (ties in concordance must be exact)."""
    eta = np.zeros(xt.shape[1])
    for j, b in enumerate(beta):
        eta += xt[j] * b
    return eta


def evaluate(data: CoxData, beta: np.ndarray) -> Evaluation:
    """Log partial likelihood at ``beta`` (Efron or Breslow ties) and the per-time sums for
    :func:`score_and_information`. Overflow gives a non-finite loglik (R then halves the step)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        eta = linear_predictor(data.xt, beta)
        w = np.exp(eta)
        s0, s1 = risk_sums(data, w), risk_sums(data, data.x, w)
        d0 = np.bincount(data.dead_at, w[data.dead], len(data.event_times))
        d1 = _binned(data.by_death, data.x, w)
        at, frac = data.dead_at, data.slot_frac
        den = s0[at] - frac * d0[at]
        loglik = float(data.x_dead.sum(0) @ beta - np.log(den).sum())
        inv = 1 / den
        m = len(data.event_times)
        per_time = {"A": np.bincount(at, inv, m), "E": np.bincount(at, inv * inv, m)}
        if data.ties == "efron":
            per_time |= {
                "B": np.bincount(at, frac * inv, m),
                "F": np.bincount(at, frac * inv * inv, m),
                "G": np.bincount(at, frac * frac * inv * inv, m),
            }
        else:
            per_time |= {k: np.zeros(m) for k in "BFG"}
    return Evaluation(beta, loglik, w, s1, d1, per_time)


def score_and_information(data: CoxData, ev: Evaluation, h: np.ndarray | None = None):
    """Score and observed information, each event time's contribution weighted by ``h`` (m,)
    (1 for the model's own; cox.zph needs g(t) and g(t)^2). Returns (u (p,), i (p, p))."""
    m = len(data.event_times)
    h = np.ones(m) if h is None else h
    t = {k: h * v for k, v in ev.per_time.items()}
    with np.errstate(over="ignore", invalid="ignore"):
        score = h @ data.x_dead - t["A"] @ ev.s1 + t["B"] @ ev.d1
        # sum_k A_k S2_k - B_k D2_k = X' diag(c) X, c_i = w_i (sum of A over i's risk sets) - death term
        cum_a = np.concatenate([[0.0], np.cumsum(t["A"])])
        in_risk_sets = cum_a[data.hi] - (cum_a[data.lo] if data.lo is not None else 0.0)
        c = ev.w * in_risk_sets
        c[data.dead] -= ev.w[data.dead] * t["B"][data.dead_at]
        info = (data.xt * c) @ data.x
        s1, d1 = ev.s1, ev.d1
        cross = s1.T @ (t["F"][:, None] * d1)
        info -= s1.T @ (t["E"][:, None] * s1) - cross - cross.T + d1.T @ (t["G"][:, None] * d1)
    return score, info


# ---------------------------------------------------------------- Newton-Raphson, as R's coxph


def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


def newton_raphson(data: CoxData, iter_max: int = ITER_MAX) -> dict:
    """Fit by Newton-Raphson from beta = 0 with R coxph's rules (survival's coxfit6/agfit4):
    stop once |1 - loglik_best / loglik_new| <= 1e-9 (the new point is the estimate); a step
    that lowers the log-likelihood, or overflows, is pulled back towards the last good point
    ((new + h * old) / (h + 1) after h failures); after ``iter_max`` iterations the last good
    point is kept and ``failed`` is set.

    Returns beta, var (inverse information), loglik, the null model's loglik and score test,
    the score and information at the estimate, ``iterations``, ``failed`` and ``error`` (a
    singular information matrix: no estimates).
    """
    p = len(data.names)
    beta = np.zeros(p)
    ev = evaluate(data, beta)
    score, info = score_and_information(data, ev)
    out = {"loglik0": ev.loglik, "score_test": float(score @ solve(info, score)), "failed": False}
    out |= {"error": None, "iterations": 0}
    try:
        step = np.linalg.solve(info, score)
    except np.linalg.LinAlgError:
        return out | {"error": "the information matrix is singular"}
    best, best_u, best_i = ev, score, info
    new_beta, halving = beta + step, 0
    for iteration in range(1, iter_max + 1):
        ev = evaluate(data, new_beta)
        score, info = score_and_information(data, ev)
        finite = _finite(ev.loglik, score, info)
        out["iterations"] = iteration
        if finite and abs(1 - best.loglik / ev.loglik) <= EPS:
            best, best_u, best_i = ev, score, info
            break
        if not finite or ev.loglik < best.loglik:
            halving += 1
            new_beta = (new_beta + halving * best.beta) / (halving + 1)
            continue
        halving = 0
        best, best_u, best_i = ev, score, info
        try:
            new_beta = best.beta + np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            return out | {"error": "the information matrix is singular"}
    else:
        out["failed"] = True
    try:
        var = np.linalg.inv(best_i)
    except np.linalg.LinAlgError:
        return out | {"error": "the information matrix is singular"}
    return out | {
        "beta": best.beta,
        "var": var,
        "loglik": best.loglik,
        "score": best_u,
        "info": best_i,
        "evaluation": best,
    }


def infinite_terms(beta, score, var) -> list[int]:
    """R coxph.fit's check: the next Newton step is still large relative to the coefficient."""
    with np.errstate(invalid="ignore", over="ignore"):
        step = np.abs(score @ var)
        bad = ~np.isfinite(score) | ~np.isfinite(step) | ((step > EPS) & (step > TOLER_INF * np.abs(beta)))
    return [int(i) for i in np.flatnonzero(bad)]


# ---------------------------------------------------------------- cox.zph


def zph_statistics(data: CoxData, ev: Evaluation, info: np.ndarray) -> tuple[list[float], float]:
    """cox.zph (survival >= 3.0, transform "km"): score tests at (beta_hat, gamma = 0) for added
    terms x * g(t), g the km transform centred over the deaths. Returns (per term chi2, global chi2);
    each term has 1 df, the global test p."""
    km = data.km
    g = km - (km * data.n_dead).sum() / data.n_dead.sum()  # centred over the deaths (ties each)
    p = len(data.names)
    u2, i12 = score_and_information(data, ev, g)
    _, i22 = score_and_information(data, ev, g * g)
    imat = np.block([[info, i12], [i12.T, i22]])
    u_full = np.concatenate([np.zeros(p), u2])

    def score_test(idx):
        u = u_full[idx]
        return float(u @ solve(imat[np.ix_(idx, idx)], u))

    per_term = [score_test([*range(p), p + j]) for j in range(p)]
    return per_term, score_test(list(range(2 * p)))


def solve(mat, vec):
    try:
        return np.linalg.solve(mat, vec)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(mat, vec, rcond=None)[0]


# ---------------------------------------------------------------- concordance


def _count_lower(sequence_ranks, weights, prefix_end, query_ranks):
    """For each query q: the sum of ``weights`` over the first ``prefix_end[q]`` points of the
    sequence whose rank is below ``query_ranks[q]``.

    A wavelet matrix over the ranks: one stable partition by each bit of the rank, from the top
    bit down; a query walks down the levels adding the weights of the points whose rank agrees
    on the higher bits and has a 0 where the query has a 1. O((n + queries) log(max rank)).
    """
    seq, wts = sequence_ranks, weights
    start = np.zeros(len(prefix_end), dtype=np.int64)
    end = prefix_end.astype(np.int64)
    total = np.zeros(len(prefix_end), dtype=np.int64)
    for bit in range(int(query_ranks.max(initial=0)).bit_length() - 1, -1, -1):
        is_zero = ((seq >> bit) & 1) == 0
        zeros_before = np.concatenate([[0], np.cumsum(is_zero)])
        weight_before = np.concatenate([[0], np.cumsum(np.where(is_zero, wts, 0))])
        one = ((query_ranks >> bit) & 1) == 1
        z_start, z_end = zeros_before[start], zeros_before[end]
        total += np.where(one, weight_before[end] - weight_before[start], 0)
        start = np.where(one, zeros_before[-1] + start - z_start, z_start)
        end = np.where(one, zeros_before[-1] + end - z_end, z_end)
        partition = np.argsort(~is_zero, kind="stable")
        seq, wts = seq[partition], wts[partition]
    return total


def _pairs_by_table(data: CoxData, ranks, n_ranks):
    """(concordant, tied) pairs from an (event time x rank) table of the rows at risk."""
    m = len(data.event_times)

    def table(index, rows, n_bins):
        return np.bincount(index * n_ranks + ranks[rows], minlength=n_bins * n_ranks).reshape(n_bins, n_ranks)

    every = np.arange(len(ranks))
    at_risk = _suffix(table(data.hi, every, m + 1))[1:]
    if data.lo is not None:
        at_risk = at_risk - _suffix(table(data.lo, every, m + 1))[1:]
    deaths = table(data.dead_at, data.dead, m)
    others = at_risk - deaths  # comparable with a death at t_k, by rank
    below = np.cumsum(others, axis=1) - others
    return float((deaths * below).sum()), float((deaths * others).sum())


def _pairs_by_wavelet(data: CoxData, ranks):
    """(concordant, tied) pairs for many distinct linear predictors (see :func:`_count_lower`)."""
    k, r = data.dead_at, ranks[data.dead]
    n = len(ranks)
    # the points in descending hi (then lo) order: rows with hi > k are a prefix, likewise lo > k
    seq, weights = ranks[::-1], np.ones(n, dtype=np.int64)
    past_k = _suffix(np.bincount(data.hi, minlength=len(data.event_times) + 1))[1:]
    if data.lo is not None:
        lo_desc = data.by_lo.indices[::-1]
        key = np.concatenate([-data.hi[::-1], -data.lo[lo_desc]])
        merged = np.argsort(key, kind="stable")  # two sorted runs: a merge
        seq = np.concatenate([seq, ranks[lo_desc]])[merged]
        weights = np.concatenate([weights, -weights])[merged]
        past_k = past_k + _suffix(np.bincount(data.lo, minlength=len(data.event_times) + 1))[1:]
    ends = np.concatenate([past_k[k], past_k[k]])
    counts = _count_lower(seq, weights, ends, np.concatenate([r, r + 1]))
    below, at_or_below = counts[: len(r)], counts[len(r) :]
    # take out the deaths at the same time (the death itself among them)
    span = int(ranks.max()) + 2
    same_time = np.sort(k * span + r)
    first = np.searchsorted(same_time, k * span, side="left")
    below = below - (np.searchsorted(same_time, k * span + r, side="left") - first)
    at_or_below = at_or_below - (np.searchsorted(same_time, k * span + r + 1, side="left") - first)
    return float(below.sum()), float((at_or_below - below).sum())


def concordance(data: CoxData, eta: np.ndarray) -> float | None:
    """Harrell's C as R's coxph reports it: each death compared with every row at risk at its
    time that does not die then (a censoring tied with the death counts as longer; deaths at
    the same time are not compared); equal linear predictors count 1/2. Within strata and
    (start, stop] risk sets, as the fit. O(n log n), no pairs formed: a table of event times x
    distinct predictors when that is small (a few binary covariates), else a wavelet matrix."""
    if not len(eta) or not np.all(np.isfinite(eta)):
        return None
    _, ranks = np.unique(eta, return_inverse=True)
    ranks = ranks.astype(np.int64)
    n_ranks = int(ranks.max()) + 1
    if (len(data.event_times) + 1) * n_ranks <= len(eta) + 1_000_000:
        concordant, tied = _pairs_by_table(data, ranks, n_ranks)
    else:
        concordant, tied = _pairs_by_wavelet(data, ranks)
    n_risk = risk_sums(data, np.ones(len(eta)))
    total = float((data.n_dead * (n_risk - data.n_dead)).sum())
    return None if total == 0 else (concordant + tied / 2) / total
