"""Kaplan-Meier against R survfit (conf.type "log"), plus edge cases."""

import numpy as np
import pandas as pd
import pytest

from analysis.stats import (
    StatsInputError,
    kaplan_meier,
    kaplan_meier_by_group,
    number_at_risk,
    reverse_km_median_followup,
    rmst_difference,
)
from analysis.stats.kaplan_meier import _km_steps

TOL = 1e-6


def at_event_times(r):
    """R's survfit table (every distinct time) at its event times, as our table holds it: the
    censorings counted from each event time until the next."""
    n_event = np.asarray(r["n_event"], dtype=float)
    rows = np.flatnonzero(n_event > 0)
    columns = ("time", "n_risk", "n_event", "surv", "std_err", "lower", "upper")
    out = {key: np.asarray(r[key], dtype=float)[rows] for key in columns}
    if "n_censor" in r:
        out["n_censor"] = np.add.reduceat(np.asarray(r["n_censor"], dtype=float), rows) if len(rows) else []
    return out


def _check_against_r(ours, r, close, label):
    table, full = ours["table"], r
    r = at_event_times(full)
    close(table["time"], r["time"], 0, f"{label} time")
    close(table["n_at_risk"], r["n_risk"], 0, f"{label} n.risk")
    close(table["n_event"], r["n_event"], 0, f"{label} n.event")
    close(table["n_censor"], r["n_censor"], 0, f"{label} n.censor")
    close(table["survival"], r["surv"], TOL, f"{label} surv")
    close(table["std_err"], r["std_err"], TOL, f"{label} std.err")
    close(table["lower"], r["lower"], TOL, f"{label} lower")
    close(table["upper"], r["upper"], TOL, f"{label} upper")
    assert ours["last_time"] == full["time"][-1]
    r = full
    # fixed times: R's summary(times=) drops times after the last follow-up
    at = [x for x in ours["at_times"] if x["time"] <= ours["last_time"]]
    close([x["time"] for x in at], r["at_times"]["time"], 0, f"{label} summary times")
    for ours_key, r_key in (
        ("survival", "surv"),
        ("std_err", "std_err"),
        ("lower", "lower"),
        ("upper", "upper"),
        ("n_at_risk", "n_risk"),
    ):
        close([x[ours_key] for x in at], r["at_times"][r_key], TOL, f"{label} at times {r_key}")
    close(ours["median"]["time"], r["median"], TOL, f"{label} median")
    close(ours["median"]["lower"], r["median_lower"], TOL, f"{label} median 0.95LCL")
    close(ours["median"]["upper"], r["median_upper"], TOL, f"{label} median 0.95UCL")


def test_overall_curve_matches_r(patient_case, close, json_clean, part):
    name, frame, r = patient_case
    r_km = part(r, "km")
    ours = kaplan_meier(frame["duration"], frame["event"])
    json_clean(ours)
    assert ours["n"] == r_km["n"] and ours["n_events"] == r_km["n_events"]
    _check_against_r(ours, r_km, close, name)


def test_quantiles_and_restricted_mean_match_r(patient_case, close, part):
    # R: quantile(survfit, probs = c(.25, .5, .75)) and summary(survfit, rmean = 1826.25)$table
    name, frame, r = patient_case
    r_km = part(r, "km")
    ours = kaplan_meier(frame["duration"], frame["event"], quantiles=r_km["quantile_probs"], rmst_tau=r_km["rmst_tau"])
    for key, r_key in (("time", "quantile"), ("lower", "quantile_lower"), ("upper", "quantile_upper")):
        close([q[key] for q in ours["quantiles"]], r_km[r_key], TOL, f"{name} quantile {key}")
    close(ours["rmst"]["rmst"], r_km["rmst"], TOL, f"{name} rmst")
    close(ours["rmst"]["std_err"], r_km["rmst_se"], TOL, f"{name} rmst se")


def test_quantile_and_horizon_are_checked():
    with pytest.raises(StatsInputError, match="between 0 and 1"):
        kaplan_meier([1, 2], [1, 1], quantiles=[1.5])
    with pytest.raises(StatsInputError, match="positive number of days"):
        kaplan_meier([1, 2], [1, 1], rmst_tau=0)


def test_curves_by_group_match_r(patient_case, close, json_clean, part):
    name, frame, r = patient_case
    r_groups = part(r, "km_by_group")
    ours = kaplan_meier_by_group(frame["duration"], frame["event"], frame["group"])
    json_clean(ours)
    assert sorted(ours["groups"]) == sorted(r_groups)
    for level, r_group in r_groups.items():
        _check_against_r(ours["groups"][level], r_group, close, f"{name} group {level}")


def test_reverse_km_median_followup_matches_r(patient_case, close, part):
    name, frame, r = patient_case
    r_rev = part(r, "reverse_km")
    ours = reverse_km_median_followup(frame["duration"], frame["event"])
    close(ours["median_days"], r_rev["median"], TOL, f"{name} median follow-up")
    close(ours["lower_days"], r_rev["median_lower"], TOL, f"{name} follow-up LCL")
    close(ours["upper_days"], r_rev["median_upper"], TOL, f"{name} follow-up UCL")
    if ours["median_days"] is not None:
        assert ours["median_years"] == pytest.approx(ours["median_days"] / 365.25)


@pytest.mark.parametrize("seed", range(6))
def test_product_limit_table_matches_lifelines(seed):
    # Cross-check of _km_steps with lifelines' KaplanMeierFitter on whole days (many ties,
    # including times with only censorings, a time 0 and a curve that may reach 0).
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    durations = rng.integers(0, 60, n).astype(float)
    events = (rng.random(n) < rng.uniform(0.2, 1.0)).astype(int)
    ours = _km_steps(durations, events)

    fitter = KaplanMeierFitter().fit(durations, event_observed=events)
    table = fitter.event_table
    table = table[table["removed"] > 0]  # lifelines adds a row at time 0 even if nobody leaves then
    n_risk, n_event = table["at_risk"].to_numpy(float), table["observed"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0))
    expected = {
        "time": table.index.to_numpy(float),
        "n_risk": n_risk,
        "n_event": n_event,
        "n_censor": table["censored"].to_numpy(float),
        "surv": fitter.survival_function_.iloc[:, 0].reindex(table.index).to_numpy(float),
        "var_log": greenwood,
    }
    assert (ours["n_censor"] > 0).any() and (ours["n_event"] == 0).any()  # censor-only times present
    for key, values in expected.items():
        np.testing.assert_allclose(ours[key], values, rtol=0, atol=1e-12, err_msg=key)


def test_median_on_flat_segment_is_midpoint():
    # 10 deaths at 10, 20, ..., 100: S = 0.5 exactly on [50, 60) -> R reports 55
    result = kaplan_meier(np.arange(1, 11) * 10, np.ones(10))
    assert result["median"]["time"] == 55.0
    assert result["median"]["lower"] == 30.0
    assert result["median"]["upper"] is None  # upper curve never reaches 0.5
    # once everybody has died, the survival SE and the CI are undefined -> None, not NaN
    assert result["table"]["survival"][-1] == 0.0
    assert result["table"]["std_err"][-1] is None
    assert result["table"]["lower"][-1] is None


def test_known_values_small_example():
    # classic: times 1,2,2,3(censored),4 ; S(1)=0.8, S(2)=0.8*1/4... at 2: 4 at risk, 2 deaths
    result = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 1, 0, 1])
    assert result["table"]["survival"] == pytest.approx([0.8, 0.4, 0.0])  # at the event times 1, 2, 4
    assert result["table"]["n_censor"] == [0, 1, 0]  # the censoring at 3 counts with the row of 2
    assert result["last_time"] == 4.0
    # Greenwood: var log S(1) = 1/(5*4); SE = S * sqrt(var)
    assert result["table"]["std_err"][0] == pytest.approx(0.8 * np.sqrt(1 / 20))
    assert result["median"]["time"] == 2.0


def test_all_censored_stays_at_one_and_median_not_reached():
    result = kaplan_meier([100, 200, 400], [0, 0, 0], times=[365.25])
    assert result["table"]["survival"] == [] and result["last_time"] == 400.0  # no event: a flat curve
    assert result["median"] == {
        "time": None,
        "lower": None,
        "upper": None,
        "time_years": None,
        "lower_years": None,
        "upper_years": None,
        "reached": False,
    }
    assert result["at_times"][0]["survival"] == 1.0
    assert result["at_times"][0]["n_at_risk"] == 1
    assert any("no events" in w for w in result["warnings"])


def test_empty_data_gives_clear_empty_result(json_clean):
    result = kaplan_meier([], [])
    json_clean(result)
    assert result["n"] == 0
    assert result["table"]["time"] == []
    assert result["median"]["reached"] is False
    assert all(x["survival"] is None for x in result["at_times"])
    assert result["warnings"]


def test_single_patient():
    died = kaplan_meier([30], [1])
    assert died["table"]["survival"] == [0.0]
    assert died["median"]["time"] == 30.0
    censored = kaplan_meier([30], [0], times=[10, 400])
    assert censored["at_times"][0]["survival"] == 1.0
    assert censored["at_times"][1]["beyond_follow_up"] is True
    assert censored["at_times"][1]["survival"] is None


def test_estimate_before_first_time_is_one():
    result = kaplan_meier([500, 600], [1, 0], times=[100])
    assert result["at_times"][0]["survival"] == 1.0
    assert result["at_times"][0]["n_at_risk"] == 2


def test_number_at_risk_counts_time_at_or_after():
    rows = number_at_risk([0, 10, 365.25, 400, 800], times=[0, 365.25, 730.5])
    assert [r["n_at_risk"] for r in rows] == [5, 3, 1]
    result = kaplan_meier([0, 10, 365.25, 400, 800], [1, 0, 1, 0, 0], risk_times=[0, 365.25])
    assert [r["n_at_risk"] for r in result["risk_table"]] == [5, 3]
    assert result["censor_times"] == [10.0, 400.0, 800.0]


def test_by_group_reports_empty_category():
    groups = pd.Categorical(["a", "a", "b"], categories=["a", "b", "c"])
    result = kaplan_meier_by_group([1, 2, 3], [1, 0, 1], groups)
    assert sorted(result["groups"]) == ["a", "b"]
    assert any("'c'" in w for w in result["warnings"])


@pytest.mark.parametrize(
    ("durations", "events", "message"),
    [
        ([1, -2, 3], [1, 0, 1], "negative"),
        ([1, np.nan, 3], [1, 0, 1], "missing"),
        ([1, 2, 3], [1, 2, 1], "event"),
        ([1, 2, 3], [1, 0], "different lengths"),
        (["a", "b"], [1, 0], "numeric"),
    ],
)
def test_bad_input_raises_clear_error(durations, events, message):
    with pytest.raises(StatsInputError, match=message):
        kaplan_meier(durations, events)


def test_error_names_the_column():
    with pytest.raises(StatsInputError, match="'duration'"):
        kaplan_meier([1, -1], [1, 1])
    with pytest.raises(StatsInputError, match="'event'"):
        kaplan_meier([1, 1], [1, np.nan])


def test_a_curve_that_reached_zero_stays_at_zero_not_beyond_follow_up():
    # R: summary(survfit(Surv(c(1, 2, 3), c(1, 1, 1)) ~ 1), times = c(2, 3, 5), extend = TRUE)
    #    surv 0.3333333 (se 0.2721655), 0 (se NaN), 0 (se NaN); n.risk 2, 1, 0
    fit = kaplan_meier([1, 2, 3], [1, 1, 1], times=[2, 3, 5])
    two, three, five = fit["at_times"]
    assert two["survival"] == pytest.approx(1 / 3) and two["std_err"] == pytest.approx(0.2721655, abs=1e-7)
    assert (three["survival"], three["n_at_risk"], three["beyond_follow_up"]) == (0.0, 1, False)
    assert (five["survival"], five["n_at_risk"], five["beyond_follow_up"]) == (0.0, 0, False)
    assert five["lower"] is None and five["upper"] is None
    # Censored last: after the last follow-up the estimate is unknown.
    assert kaplan_meier([1, 2, 3], [1, 1, 0], times=[5])["at_times"][0]["beyond_follow_up"] is True


def test_rmst_difference_between_two_groups_from_rs_group_values(patient_case, close, part):
    # Each group's RMST and SE: R print(survfit(Surv(duration, event) ~ group), rmean = 1826.25)
    name, frame, r = patient_case
    r_groups = part(r, "km_by_group")
    first, second = sorted(r_groups)[:2]
    two = frame[frame["group"].isin([first, second])]
    ours = rmst_difference(two["duration"], two["event"], two["group"], tau=r_groups[first]["rmst_tau"])
    assert ours["groups"] == [first, second]
    close(ours["rmst"], [r_groups[first]["rmst"], r_groups[second]["rmst"]], TOL, f"{name} group RMSTs")
    expected = r_groups[second]["rmst"] - r_groups[first]["rmst"]
    expected_se = (r_groups[first]["rmst_se"] ** 2 + r_groups[second]["rmst_se"] ** 2) ** 0.5
    close(ours["difference"], expected, TOL, f"{name} RMST difference")
    close(ours["difference_std_err"], expected_se, TOL, f"{name} its SE")
    assert ours["lower"] == pytest.approx(expected - 1.959963984540054 * expected_se)


def test_rmst_difference_needs_two_groups():
    with pytest.raises(StatsInputError, match="exactly two groups"):
        rmst_difference([1, 2, 3], [1, 1, 1], ["a", "b", "c"])
