"""The vectorised Cox engine (analysis/stats/_cox_fit.py) against direct computations.

The public functions are compared with R in test_cox.py; here the engine's pieces are checked
against definitions written out the slow way: the score and information against numerical
derivatives of the log-likelihood, and concordance against counting every pair.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.stats import _cox_fit
from analysis.stats.cox import _make_data

DATA = Path(__file__).resolve().parents[2] / "reference" / "data"


def _random_rows(seed, n=120, counting=False, strata=False):
    """Whole-day times (many ties), integer covariates (many equal linear predictors)."""
    rng = np.random.default_rng(seed)
    stop = rng.integers(1, 30, n).astype(float)
    start = np.where(rng.random(n) < 0.5, np.floor(stop * rng.random(n)), 0.0) if counting else np.full(n, -np.inf)
    start = np.where(start >= stop, stop - 1, start) if counting else start
    event = (rng.random(n) < 0.6).astype(int)
    x = np.column_stack([rng.integers(0, 2, n), rng.integers(0, 3, n)]).astype(float)
    stratum = rng.integers(0, 3, n) if strata else None
    return start, stop, event, x, stratum


def _data(start, stop, event, x, stratum, ties="efron"):
    return _make_data(start, stop, event, x - x.mean(0), ["a", "b"], ties, stratum)


CASES = [
    pytest.param(dict(counting=False, strata=False), "efron", id="right-censored efron"),
    pytest.param(dict(counting=False, strata=False), "breslow", id="right-censored breslow"),
    pytest.param(dict(counting=True, strata=False), "efron", id="counting-process efron"),
    pytest.param(dict(counting=True, strata=True), "breslow", id="counting-process strata breslow"),
    pytest.param(dict(counting=False, strata=True), "efron", id="right-censored strata efron"),
]


@pytest.mark.parametrize(("kind", "ties"), CASES)
def test_score_and_information_are_the_derivatives_of_the_loglik(kind, ties):
    data = _data(*_random_rows(1, **kind), ties=ties)
    beta = np.array([0.4, -0.3])
    score, info = _cox_fit.score_and_information(data, _cox_fit.evaluate(data, beta))
    step = 1e-5
    for j in range(2):
        e = np.zeros(2)
        e[j] = step
        up, down = _cox_fit.evaluate(data, beta + e), _cox_fit.evaluate(data, beta - e)
        assert (up.loglik - down.loglik) / (2 * step) == pytest.approx(score[j], abs=1e-6)
        u_up = _cox_fit.score_and_information(data, up)[0]
        u_down = _cox_fit.score_and_information(data, down)[0]
        assert -(u_up - u_down) / (2 * step) == pytest.approx(info[:, j], abs=1e-5)


def test_efron_loglik_equals_the_formula_written_per_event_time():
    start, stop, event, x, _ = _random_rows(2)
    beta = np.array([0.2, 0.5])
    data = _data(start, stop, event, x, None)
    xc = x - x.mean(0)
    eta = xc @ beta
    expected = 0.0
    for t in np.unique(stop[event == 1]):
        dead = (stop == t) & (event == 1)
        risk = np.exp(eta[stop >= t]).sum()
        dead_risk = np.exp(eta[dead]).sum()
        d = dead.sum()
        expected += eta[dead].sum() - sum(np.log(risk - r / d * dead_risk) for r in range(d))
    assert _cox_fit.evaluate(data, beta).loglik == pytest.approx(expected, abs=1e-10)


def _pairs_by_hand(start, stop, event, eta, stratum):
    """Harrell's C as coxph counts it, pair by pair."""
    stratum = np.zeros(len(stop)) if stratum is None else stratum
    concordant = tied = total = 0
    for i in np.flatnonzero(event == 1):
        t = stop[i]
        for j in range(len(stop)):
            at_risk = start[j] < t <= stop[j] and stratum[j] == stratum[i]
            if j == i or not at_risk or (event[j] == 1 and stop[j] == t):
                continue
            total += 1
            concordant += eta[i] > eta[j]
            tied += eta[i] == eta[j]
    return (concordant + tied / 2) / total


@pytest.mark.parametrize(("kind", "ties"), CASES)
def test_concordance_counts_the_same_pairs_as_by_hand(kind, ties):
    start, stop, event, x, stratum = _random_rows(3, **kind)
    beta = np.array([1.0, 2.0])  # integer linear predictors: many exact ties
    data = _data(start, stop, event, x, stratum, ties)
    ours = _cox_fit.concordance(data, _cox_fit.linear_predictor(data.xt, beta))
    assert ours == pytest.approx(_pairs_by_hand(start, stop, event, x @ beta, stratum), abs=1e-12)


@pytest.mark.parametrize("name", ["heavy_censoring_cp", "ties_small_groups_cp", "demo_os_after_second_line_cp"])
def test_concordance_wavelet_and_table_agree(name):
    # Many distinct predictors (a continuous covariate) take the wavelet path on large data, a
    # table of event times x predictors on small data; both must count the same pairs.
    frame = pd.read_csv(DATA / f"{name}.csv")
    covs = [c for c in ("transplanted", "bin1", "cont") if c in frame.columns]
    x = frame[covs].to_numpy(float)
    for strata in (None, frame["transplanted"].to_numpy()):
        data = _make_data(frame["start"].to_numpy(float), frame["stop"].to_numpy(float), frame["event"].to_numpy(),
                          x - x.mean(0), covs, "efron", strata)  # fmt: skip
        eta = _cox_fit.linear_predictor(data.xt, np.linspace(0.3, -0.5, len(covs)))
        ranks = np.unique(eta, return_inverse=True)[1].astype(np.int64)
        table = _cox_fit._pairs_by_table(data, ranks, int(ranks.max()) + 1)
        assert _cox_fit._pairs_by_wavelet(data, ranks) == table


def test_count_lower_against_a_direct_count():
    rng = np.random.default_rng(4)
    ranks = rng.integers(0, 37, 500)
    weights = rng.choice([-1, 1], 500)
    ends = rng.integers(0, 501, 200)
    queries = rng.integers(0, 38, 200)
    direct = [int(weights[:e][ranks[:e] < q].sum()) for e, q in zip(ends, queries, strict=True)]
    assert _cox_fit._count_lower(ranks, weights, ends, queries).tolist() == direct


def test_identical_covariate_rows_get_identical_linear_predictors():
    rng = np.random.default_rng(5)
    x = np.repeat(rng.random((3, 4)), 1000, axis=0)
    eta = _cox_fit.linear_predictor(np.ascontiguousarray(x.T), rng.random(4))
    assert len(np.unique(eta)) == 3
