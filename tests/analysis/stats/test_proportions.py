"""Exact binomial confidence intervals against R binom.test."""

import pytest

from analysis.stats import StatsInputError, binomial_proportion


def _r_cases(r_results):
    cases = list(r_results["binom_fixed"])
    cases += [res["binom"] for res in r_results["datasets"].values() if res.get("binom")]
    return cases


def test_matches_r_binom_test(r_results, close, json_clean):
    cases = _r_cases(r_results)
    assert len(cases) >= 5
    for case in cases:
        ours = binomial_proportion(case["x"], case["n"])
        json_clean(ours)
        close(ours["lower"], case["lower"], 1e-9, f"{case['x']}/{case['n']} lower")
        close(ours["upper"], case["upper"], 1e-9, f"{case['x']}/{case['n']} upper")


def test_paper_salvage_remission_rate():
    # 15 of 37 evaluable patients in remission after salvage: 40.5%
    result = binomial_proportion(15, 37)
    assert round(result["percent"], 1) == 40.5
    assert result["lower"] == pytest.approx(0.2475424, abs=1e-7)


def test_extremes():
    assert binomial_proportion(0, 10)["lower"] == 0.0
    assert binomial_proportion(10, 10)["upper"] == 1.0


@pytest.mark.parametrize(
    ("x", "n", "message"),
    [
        (3, 0, "positive"),
        (5, 4, "between"),
        (-1, 4, "between"),
        (1.5, 4, "whole"),
        ("a", 4, "whole"),
        (True, 4, "whole"),
    ],
)
def test_bad_input(x, n, message):
    with pytest.raises(StatsInputError, match=message):
        binomial_proportion(x, n)
