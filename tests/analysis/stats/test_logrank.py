"""Log-rank test against R survdiff, plus edge cases."""

import numpy as np
import pandas as pd
import pytest

from analysis.stats import StatsInputError, logrank_test


def test_matches_r_survdiff(patient_case, close, json_clean, part):
    name, frame, r = patient_case
    lr = part(r, "logrank")
    ours = logrank_test(frame["duration"], frame["event"], frame["group"])
    json_clean(ours)
    assert ours["groups"] == lr["groups"]
    close(ours["chi2"], lr["chisq"], 1e-6, f"{name} chi-square")
    close(ours["p"], lr["p"], 1e-6, f"{name} p")
    assert ours["df"] == lr["df"]
    close(ours["observed"], lr["observed"], 0, f"{name} observed")
    close(ours["expected"], lr["expected"], 1e-6, f"{name} expected")


def test_stratified_matches_r_survdiff(patient_case, close, json_clean, part):
    # R: survdiff(Surv(duration, event) ~ group + strata(bin1))
    name, frame, r = patient_case
    lr = part(r, "logrank_strata")
    ours = logrank_test(frame["duration"], frame["event"], frame["group"], strata=frame["bin1"])
    json_clean(ours)
    assert ours["groups"] == lr["groups"] and ours["strata"] == ["0", "1"]
    close(ours["chi2"], lr["chisq"], 1e-6, f"{name} stratified chi-square")
    close(ours["p"], lr["p"], 1e-6, f"{name} stratified p")
    assert ours["df"] == lr["df"]
    close(ours["observed"], lr["observed"], 0, f"{name} stratified observed")
    close(ours["expected"], lr["expected"], 1e-6, f"{name} stratified expected")


def test_unstratified_agrees_with_lifelines(patient_case):
    from lifelines.statistics import multivariate_logrank_test

    _, frame, _ = patient_case
    ours = logrank_test(frame["duration"], frame["event"], frame["group"])
    theirs = multivariate_logrank_test(frame["duration"], frame["group"], frame["event"])
    assert ours["chi2"] == pytest.approx(theirs.test_statistic, rel=1e-9)


def test_two_groups_textbook_value():
    # two groups, no ties: hand-computed O-E and variance
    t = [1, 2, 3, 4]
    e = [1, 1, 1, 1]
    g = ["a", "b", "a", "b"]
    # times 1..4 at risk (a,b): (2,2) (1,2) (1,1) (0,1); E_a = 1/2 + 1/3 + 1/2 + 0 = 4/3, O_a = 2
    # V = 1/4 + 2/9 + 1/4 + 0 = 13/18
    result = logrank_test(t, e, g)
    assert result["expected"][0] == pytest.approx(4 / 3)
    assert result["chi2"] == pytest.approx((2 - 4 / 3) ** 2 / (13 / 18))
    assert result["df"] == 1


def test_identical_groups_give_zero():
    result = logrank_test([1, 2, 1, 2], [1, 0, 1, 0], ["x", "x", "y", "y"])
    assert result["chi2"] == pytest.approx(0.0)
    assert result["p"] == pytest.approx(1.0)


def test_empty_category_is_dropped_with_warning():
    groups = pd.Categorical(["a", "b", "a", "b"], categories=["a", "b", "never"])
    result = logrank_test([1, 2, 3, 4], [1, 1, 1, 1], groups)
    assert result["groups"] == ["a", "b"]
    assert result["df"] == 1
    assert any("never" in w for w in result["warnings"])


def test_one_group_is_an_error():
    with pytest.raises(StatsInputError, match="at least two groups"):
        logrank_test([1, 2], [1, 1], ["a", "a"])


def test_no_events_gives_no_p_value():
    result = logrank_test([1, 2, 3], [0, 0, 0], ["a", "b", "b"])
    assert result["chi2"] == 0.0 and result["p"] is None
    assert result["warnings"]


def test_bad_input():
    with pytest.raises(StatsInputError, match="group"):
        logrank_test([1, 2], [1, 1], ["a", None])
    with pytest.raises(StatsInputError, match="different lengths"):
        logrank_test([1, 2, 3], [1, 1, 0], ["a", "b"])
    with pytest.raises(StatsInputError, match="event"):
        logrank_test([1, 2], [1, np.nan], ["a", "b"])


def test_group_without_expected_events_left_out_as_survdiff():
    # group c is censored before the first event: R survdiff (survival 3.5-3) gives
    # chisq 0.0739030023095 on 1 df, observed (2, 2, 0), expected (2.26666666667, 1.73333333333, 0)
    result = logrank_test([1, 2, 3, 4, 6, 0.5, 0.5], [1, 1, 1, 1, 0, 0, 0], list("ababacc"))
    assert result["chi2"] == pytest.approx(0.0739030023095, abs=1e-10)
    assert result["df"] == 1
    assert result["expected"] == pytest.approx([2.26666666667, 1.73333333333, 0.0], abs=1e-10)
    assert result["observed"] == [2, 2, 0]
