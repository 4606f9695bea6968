"""Cumulative incidence and Gray's test against R cmprsk::cuminc, plus edge cases."""

import numpy as np
import pandas as pd
import pytest

from analysis.stats import StatsInputError, cumulative_incidence, grays_test

TOL = 1e-6


def _check_curves(durations, event_types, r_curves, close, label):
    """R gives timepoints() at every distinct time and at 1/3/5 years; compare them all."""
    for key, r_curve in r_curves.items():
        if key == "tests":
            continue
        cause = key.split()[-1]
        ours = cumulative_incidence(durations, event_types, times=r_curve["time"])
        at = ours["causes"][cause]["at_times"]
        close([x["estimate"] for x in at], r_curve["est"], TOL, f"{label} {key} estimate")
        close([x["variance"] for x in at], r_curve["var"], TOL, f"{label} {key} variance")


def test_cif_matches_r(patient_case, close, json_clean, part):
    name, frame, r = patient_case
    r_cif = part(r, "cuminc")
    json_clean(cumulative_incidence(frame["duration"], frame["event_type"]))
    _check_curves(frame["duration"], frame["event_type"], r_cif, close, name)


def test_cif_by_group_matches_r(patient_case, close, part):
    name, frame, r = patient_case
    by_group = {k: v for k, v in part(r, "cuminc_by_group").items() if k != "tests"}
    for group in sorted({k.rsplit(" ", 1)[0] for k in by_group}):
        sel = frame["group"].astype(str) == group
        curves = {k: v for k, v in by_group.items() if k.rsplit(" ", 1)[0] == group}
        _check_curves(frame.loc[sel, "duration"], frame.loc[sel, "event_type"], curves, close, f"{name} {group}")


def test_grays_test_matches_r(patient_case, close, json_clean, part):
    name, frame, r = patient_case
    tests = part(r, "cuminc_by_group").get("tests") or pytest.skip("R wrote no Gray test")
    ours = grays_test(frame["duration"], frame["event_type"], frame["group"])
    json_clean(ours)
    for i, cause in enumerate(tests["cause"]):
        mine = ours["by_cause"][cause]
        close(mine["chi2"], tests["stat"][i], TOL, f"{name} Gray stat cause {cause}")
        close(mine["p"], tests["p"][i], TOL, f"{name} Gray p cause {cause}")
        assert mine["df"] == tests["df"][i]
    assert ours["chi2"] == ours["by_cause"]["1"]["chi2"]


def test_grays_test_with_strata_matches_r(patient_case, close, part):
    # R: cuminc(duration, event_type, group, strata = bin1)$Tests
    name, frame, r = patient_case
    tests = part(r, "gray_strata")
    ours = grays_test(frame["duration"], frame["event_type"], frame["group"], strata=frame["bin1"])
    for i, cause in enumerate(tests["cause"]):
        close(ours["by_cause"][cause]["chi2"], tests["stat"][i], TOL, f"{name} stratified Gray stat cause {cause}")
        close(ours["by_cause"][cause]["p"], tests["p"][i], TOL, f"{name} stratified Gray p cause {cause}")


def test_cif_plus_survival_is_one_without_censoring():
    # no censoring: CIF1 + CIF2 = 1 - KM, and CIF is just the proportion
    t = np.arange(1, 9)
    c = np.array([1, 2, 1, 1, 2, 1, 2, 1])
    result = cumulative_incidence(t, c, times=[4, 8])
    assert result["causes"]["1"]["at_times"][0]["estimate"] == pytest.approx(3 / 8)
    assert result["causes"]["2"]["at_times"][0]["estimate"] == pytest.approx(1 / 8)
    total = result["causes"]["1"]["at_times"][1]["estimate"] + result["causes"]["2"]["at_times"][1]["estimate"]
    assert total == pytest.approx(1.0)


def test_not_one_minus_km():
    # with competing events the CIF is below 1 - KM of the cause treated alone
    t = [1, 2, 3, 4, 5, 6]
    c = [2, 2, 1, 0, 1, 0]
    cif = cumulative_incidence(t, c, times=[5])["causes"]["1"]["at_times"][0]["estimate"]
    # 1 - KM censoring competing events: 1 - (3/4)(1/2) = 0.625; AJ: (4/6)(1/4 + (3/4)(1/2)) = 0.4167
    assert cif == pytest.approx(5 / 12)


def test_all_censored_and_empty(json_clean):
    result = cumulative_incidence([1, 2, 3], [0, 0, 0], times=[2])
    assert result["causes"]["1"]["at_times"][0]["estimate"] == 0.0
    empty = cumulative_incidence([], [], times=[2])
    json_clean(empty)
    assert empty["causes"]["1"]["at_times"][0]["estimate"] is None
    assert empty["warnings"]


def test_beyond_follow_up_is_none():
    result = cumulative_incidence([10, 20], [1, 0], times=[15, 100])
    at = result["causes"]["1"]["at_times"]
    assert at[0]["estimate"] == 0.5 and at[1]["estimate"] is None and at[1]["beyond_follow_up"]


def test_gray_no_events_of_cause_gives_message():
    result = grays_test([1, 2, 3, 4], [2, 0, 2, 0], ["a", "a", "b", "b"])
    assert result["chi2"] is None
    assert any("cause 1" in w for w in result["warnings"])


def test_gray_identical_groups_give_zero():
    result = grays_test([1, 2, 3, 1, 2, 3], [1, 2, 0, 1, 2, 0], list("aaabbb"))
    assert result["chi2"] == pytest.approx(0.0, abs=1e-12)


def test_gray_empty_category_and_one_group():
    groups = pd.Categorical(list("aabb"), categories=["a", "b", "z"])
    result = grays_test([1, 2, 3, 4], [1, 1, 2, 1], groups)
    assert result["df"] == 1 and any("'z'" in w for w in result["warnings"])
    with pytest.raises(StatsInputError, match="at least two groups"):
        grays_test([1, 2], [1, 1], ["a", "a"])


def test_gray_strata_sum_scores():
    frame = pd.DataFrame(
        {"t": [1, 2, 3, 4, 5, 6, 7, 8], "c": [1, 2, 1, 0, 1, 1, 2, 0], "g": list("abababab"), "s": list("xxxxyyyy")}
    )
    result = grays_test(frame.t, frame.c, frame.g, strata=frame.s)
    # R: cuminc(t, c, g, s)$Tests (cmprsk 2.2-11)
    assert result["by_cause"]["1"]["chi2"] == pytest.approx(1.72681281618887, abs=1e-9)
    assert result["by_cause"]["2"]["chi2"] == pytest.approx(0.0, abs=1e-12)
    assert result["df"] == 1


def test_bad_event_type():
    with pytest.raises(StatsInputError, match="'event_type'"):
        cumulative_incidence([1, 2], [1, 3])
    with pytest.raises(StatsInputError, match="negative"):
        cumulative_incidence([1, -2], [1, 0])
