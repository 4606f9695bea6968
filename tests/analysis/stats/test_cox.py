"""Cox models against R coxph / cox.zph (survival >= 3), plus edge cases."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.stats import StatsInputError, cox_model, cox_time_varying

COEF_TOL = 1e-4
TIGHT = 1e-6


def _check_against_r(ours, r, close, label):
    terms = ours["terms"]
    assert [t["term"] for t in terms] == r["terms"]
    close([t["coef"] for t in terms], r["coef"], COEF_TOL, f"{label} coef")
    close([t["se"] for t in terms], r["se"], COEF_TOL, f"{label} se")
    close([t["p"] for t in terms], r["p"], COEF_TOL, f"{label} Wald p")
    close([t["lower"] for t in terms], r["lower"], COEF_TOL, f"{label} HR lower")
    close([t["upper"] for t in terms], r["upper"], COEF_TOL, f"{label} HR upper")
    close(ours["loglik"], r["loglik"], TIGHT, f"{label} loglik")
    close(ours["wald_test"]["chi2"], r["wald"], COEF_TOL, f"{label} Wald test")
    close(ours["likelihood_ratio_test"]["chi2"], r["lrt"], COEF_TOL, f"{label} LR test")
    close(ours["score_test"]["chi2"], r["score"], COEF_TOL, f"{label} score test")
    close(ours["concordance"], r["concordance"], TIGHT, f"{label} concordance")
    assert ours["n"] == r["n"] and ours["n_events"] == r["n_events"]
    zph = ours["ph_test"]
    assert [t["term"] for t in zph["terms"]] + ["GLOBAL"] == r["zph_terms"]
    close([t["chi2"] for t in zph["terms"]] + [zph["global"]["chi2"]], r["zph_chisq"], COEF_TOL, f"{label} zph chisq")
    close([t["p"] for t in zph["terms"]] + [zph["global"]["p"]], r["zph_p"], COEF_TOL, f"{label} zph p")
    assert ours["converged"] is True


def test_cox_matches_r(patient_case, close, json_clean, part):
    name, frame, r = patient_case
    r_cox = part(r, "cox")
    ours = cox_model(frame, "duration", "event", ["bin1", "bin2", "cont"])
    json_clean(ours)
    _check_against_r(ours, r_cox, close, name)


def test_time_varying_cox_matches_r(cp_case, close, json_clean, part):
    name, frame, r = cp_case
    r_cox = part(r, "cox_tv")
    covs = [c for c in ("transplanted", "bin1", "cont") if c in frame.columns]
    ours = cox_time_varying(frame, "id", "start", "stop", "event", covs)
    json_clean(ours)
    _check_against_r(ours, r_cox, close, name)
    assert ours["n_subjects"] == frame["id"].nunique()


def test_breslow_ties_match_r(patient_case, close, json_clean, part):
    name, frame, r = patient_case
    ours = cox_model(frame, "duration", "event", ["bin1", "bin2", "cont"], ties="breslow")
    json_clean(ours)
    assert ours["ties"] == "breslow"
    _check_against_r(ours, part(r, "cox_breslow"), close, f"{name} breslow")


def test_breslow_ties_match_r_on_counting_process_data(cp_case, close, json_clean, part):
    name, frame, r = cp_case
    covs = [c for c in ("transplanted", "bin1", "cont") if c in frame.columns]
    ours = cox_time_varying(frame, "id", "start", "stop", "event", covs, ties="breslow")
    json_clean(ours)
    _check_against_r(ours, part(r, "cox_tv_breslow"), close, f"{name} breslow")


def test_stratified_cox_matches_r(patient_case, close, json_clean, part):
    # R: coxph(Surv(duration, event) ~ bin2 + cont + strata(bin1), ties = "efron"), with cox.zph
    name, frame, r = patient_case
    ours = cox_model(frame, "duration", "event", ["bin2", "cont"], strata="bin1")
    json_clean(ours)
    assert ours["strata"] == ["0", "1"]
    _check_against_r(ours, part(r, "cox_strata"), close, f"{name} strata")


def test_stratified_time_varying_cox_matches_r(cp_case, close, json_clean, part):
    name, frame, r = cp_case
    r_cox = part(r, "cox_tv_strata")
    ours = cox_time_varying(frame, "id", "start", "stop", "event", r_cox["terms"], strata="bin1")
    json_clean(ours)
    _check_against_r(ours, r_cox, close, f"{name} strata")


def test_stratified_breslow_matches_r(patient_case, close, json_clean, part):
    # R: coxph(Surv(duration, event) ~ bin2 + cont + strata(bin1), ties = "breslow")
    name, frame, r = patient_case
    ours = cox_model(frame, "duration", "event", ["bin2", "cont"], strata="bin1", ties="breslow")
    json_clean(ours)
    _check_against_r(ours, part(r, "cox_strata_breslow"), close, f"{name} strata breslow")


def test_stratified_time_varying_breslow_matches_r(cp_case, close, json_clean, part):
    # R: coxph(Surv(start, stop, event) ~ transplanted + cont + strata(bin1), ties = "breslow")
    name, frame, r = cp_case
    r_cox = part(r, "cox_tv_strata_breslow")
    ours = cox_time_varying(frame, "id", "start", "stop", "event", r_cox["terms"], strata="bin1", ties="breslow")
    json_clean(ours)
    _check_against_r(ours, r_cox, close, f"{name} strata breslow")


def test_cox_agrees_with_lifelines(patient_case):
    """Our Newton-Raphson for right-censored data against lifelines' CoxPHFitter (Efron)."""
    from lifelines import CoxPHFitter

    name, frame, _ = patient_case
    covs = ["bin1", "bin2", "cont"]
    ours = cox_model(frame, "duration", "event", covs)
    # lifelines' default stopping rule (precision 1e-7) is looser than R's; iterate to the optimum
    tight = {"step_size": 0.95, "precision": 1e-16, "r_precision": 0.0, "max_steps": 500}
    theirs = CoxPHFitter().fit(frame[["duration", "event", *covs]], "duration", "event", fit_options=tight)
    assert [t["coef"] for t in ours["terms"]] == pytest.approx(theirs.params_[covs].tolist(), abs=1e-6), name
    assert [t["se"] for t in ours["terms"]] == pytest.approx(theirs.standard_errors_[covs].tolist(), abs=1e-6), name
    assert ours["loglik"][1] == pytest.approx(theirs.log_likelihood_, abs=1e-6), name


def test_iterations_are_reported(patient_case):
    _, frame, r = patient_case
    result = cox_model(frame, "duration", "event", ["bin1", "bin2", "cont"])
    assert 1 <= result["iterations"] <= 20


def test_separation_gives_finite_estimates_for_the_others_as_r(r_results):
    # lifelines cannot invert the information matrix here and gives up; R's coxph stops by its own
    # rule (20 iterations), flags x ("coefficient may be infinite") and reports z and w.
    frame = pd.read_csv(Path(__file__).resolve().parents[2] / "reference" / "data" / "separation.csv")
    r = r_results["separation"]
    result = cox_model(frame, "t", "e", r["terms"])
    terms = {t["term"]: t for t in result["terms"]}
    assert terms["x"]["possibly_infinite"] is True and result["converged"] is False
    assert any("may be infinite" in w for w in result["warnings"])
    for name, coef, se in zip(r["terms"], r["coef"], r["se"], strict=True):
        if name == "x":
            continue
        assert terms[name]["coef"] == pytest.approx(coef, abs=1e-6), name
        assert terms[name]["se"] == pytest.approx(se, abs=1e-6), name
        assert terms[name]["possibly_infinite"] is False
    assert result["loglik"] == pytest.approx(r["loglik"], abs=1e-6)


def test_unknown_ties_method_is_refused():
    frame = pd.read_csv(Path(__file__).resolve().parents[2] / "reference" / "data" / "heavy_censoring.csv")
    with pytest.raises(StatsInputError, match="ties must be one of efron, breslow"):
        cox_model(frame, "duration", "event", ["bin1"], ties="exact")


def test_time_varying_equals_plain_cox_when_nothing_varies(patient_case):
    _, frame, _ = patient_case
    frame = frame[frame["duration"] > 0].assign(start=0.0, row=lambda f: range(len(f)))
    plain = cox_model(frame, "duration", "event", ["bin1", "cont"])
    tv = cox_time_varying(frame, "row", "start", "duration", "event", ["bin1", "cont"])
    assert [t["coef"] for t in tv["terms"]] == pytest.approx([t["coef"] for t in plain["terms"]], abs=1e-10)
    assert [t["se"] for t in tv["terms"]] == pytest.approx([t["se"] for t in plain["terms"]], abs=1e-10)


def test_hazard_ratio_is_exp_coef():
    frame = pd.read_csv(Path(__file__).resolve().parents[2] / "reference" / "data" / "heavy_censoring.csv")
    result = cox_model(frame, "duration", "event", "bin1")
    term = result["terms"][0]
    assert term["hazard_ratio"] == pytest.approx(np.exp(term["coef"]))
    assert term["lower"] == pytest.approx(np.exp(term["coef"] - 1.959963984540054 * term["se"]))


def _separated():
    # the five shortest times all have x = 1: monotone likelihood, coefficient -> infinity
    return pd.DataFrame(
        {"t": np.arange(1, 11), "e": 1, "x": [1] * 5 + [0] * 5, "z": [0.3, 0.1, 0.5, 0.2, 0.9, 0.4, 0.8, 0.6, 0.7, 0.0]}
    )


def test_perfect_separation_is_reported_not_crashed(json_clean):
    result = cox_model(_separated(), "t", "e", ["x", "z"])
    json_clean(result)
    assert result["converged"] is False
    assert result["terms"][0]["possibly_infinite"] is True
    assert result["terms"][1]["possibly_infinite"] is False
    assert any("may be infinite" in w for w in result["warnings"])
    assert result["ph_test"] is None
    # The finite coefficient of z converges and matches R's (-0.1499003, se 1.132542); the
    # diverging x is compared with R's in test_separation_stops_where_r_stops.
    assert result["terms"][1]["coef"] == pytest.approx(-0.1499003, abs=1e-4)
    assert result["terms"][1]["se"] == pytest.approx(1.132542, abs=1e-4)


def test_constant_covariate_dropped_with_warning():
    frame = _separated().assign(c=1.0, x=[1, 0, 1, 0, 0, 1, 0, 1, 1, 0])
    result = cox_model(frame, "t", "e", ["x", "c"])
    assert [t["term"] for t in result["terms"]] == ["x"]
    assert any("'c' has no variation" in w for w in result["warnings"])


def test_aliased_covariate_dropped_with_warning():
    frame = _separated().assign(x=[1, 0, 1, 0, 0, 1, 0, 1, 1, 0])
    frame["x2"] = 1 - frame["x"]
    result = cox_model(frame, "t", "e", ["x", "x2"])
    assert [t["term"] for t in result["terms"]] == ["x"]
    assert any("linear combination" in w for w in result["warnings"])


def test_only_constant_covariates_is_an_error():
    with pytest.raises(StatsInputError, match="no covariate with variation"):
        cox_model(_separated().assign(c=0), "t", "e", ["c"])


def test_no_events_is_an_error():
    with pytest.raises(StatsInputError, match="no events"):
        cox_model(_separated().assign(e=0), "t", "e", ["x"])


def test_single_patient_is_an_error_not_a_crash():
    with pytest.raises(StatsInputError):
        cox_model(pd.DataFrame({"t": [5], "e": [1], "x": [1]}), "t", "e", ["x"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"t": [1, -2, 3, 4]}, "'t'.*negative"),
        ({"e": [1, 0, 3, 1]}, "'e'"),
        ({"x": [1, np.nan, 0, 1]}, "'x'.*missing"),
        ({"x": ["a", "b", "a", "b"]}, "'x'.*dummy"),
    ],
)
def test_bad_input_messages(change, message):
    frame = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 0, 1, 1], "x": [1, 0, 0, 1]})
    for col, values in change.items():
        frame[col] = values
    with pytest.raises(StatsInputError, match=message):
        cox_model(frame, "t", "e", ["x"])


def test_missing_column():
    with pytest.raises(StatsInputError, match="not in the data"):
        cox_model(pd.DataFrame({"t": [1], "e": [1]}), "t", "e", ["nope"])


def test_counting_process_checks_intervals():
    frame = pd.DataFrame({"id": [1, 1, 2], "start": [0, 5, 0], "stop": [10, 20, 7], "event": [0, 1, 1], "x": [0, 1, 0]})
    with pytest.raises(StatsInputError, match="overlapping"):
        cox_time_varying(frame, "id", "start", "stop", "event", ["x"])
    frame.loc[1, "start"] = 25
    with pytest.raises(StatsInputError, match="greater than 'start'"):
        cox_time_varying(frame, "id", "start", "stop", "event", ["x"])


def test_overlaps_are_found_in_rows_out_of_order():
    frame = pd.DataFrame({"id": [2, 1, 1], "start": [0, 5, 0], "stop": [7, 20, 10], "event": [1, 1, 0], "x": [0, 1, 0]})
    with pytest.raises(StatsInputError, match="overlapping .* id = 1"):
        cox_time_varying(frame, "id", "start", "stop", "event", ["x"])
    ordered = frame.assign(start=[0, 10, 0])  # (0, 10] then (10, 20]: no overlap, any row order
    assert cox_time_varying(ordered, "id", "start", "stop", "event", ["x"])["n_subjects"] == 2


def test_separation_stops_where_r_stops(json_clean):
    # R 3.5 (coxph, 20 iterations): x 22.2604493 (se 19915.66, flagged), z -0.1499003 (se 1.132542).
    # Our Newton-Raphson follows R's steps and stopping rule, so even the diverging x is R's.
    result = cox_model(_separated(), "t", "e", ["x", "z"])
    json_clean(result)
    assert result["converged"] is False and result["iterations"] == 20
    x, z = result["terms"]
    assert x["possibly_infinite"] is True and x["coef"] == pytest.approx(22.2604493, abs=1e-6)
    assert x["se"] == pytest.approx(19915.66, abs=1e-2)
    assert z["coef"] == pytest.approx(-0.1499003, abs=1e-6) and z["se"] == pytest.approx(1.132542, abs=1e-6)
    assert result["score_test"]["chi2"] is not None


def test_running_out_of_iterations_is_reported(monkeypatch, json_clean):
    import analysis.stats.cox as cox_module

    monkeypatch.setattr(cox_module, "ITER_MAX", 1)
    frame = pd.read_csv(Path(__file__).resolve().parents[2] / "reference" / "data" / "heavy_censoring.csv")
    result = cox_model(frame, "duration", "event", ["bin1", "cont"])
    json_clean(result)
    assert result["converged"] is False and result["iterations"] == 1
    assert result["ph_test"] is None
    assert any("did not converge in 1 Newton-Raphson iterations" in w for w in result["warnings"])


def test_covariate_names_that_lifelines_reserves_are_safe():
    # CoxTimeVaryingFitter renames its columns to 'event', 'start', 'stop' internally
    frame = _separated().assign(x=[1, 0, 1, 0, 0, 1, 0, 1, 1, 0])
    frame = frame.assign(id=range(10), s=0.0, start=frame["x"], event=frame["z"])
    tv = cox_time_varying(frame, "id", "s", "t", "e", ["start", "event"])
    plain = cox_model(frame.rename(columns={"start": "a", "event": "b"}), "t", "e", ["a", "b"])
    assert [t["term"] for t in tv["terms"]] == ["start", "event"]
    assert [t["coef"] for t in tv["terms"]] == pytest.approx([t["coef"] for t in plain["terms"]], abs=1e-9)


def test_time_varying_fit_agrees_with_lifelines(cp_case):
    """Our Newton-Raphson for (start, stop] data against lifelines' CoxTimeVaryingFitter."""
    from lifelines import CoxTimeVaryingFitter

    name, frame, _ = cp_case
    covs = [c for c in ("transplanted", "bin1", "cont") if c in frame.columns]
    ours = cox_time_varying(frame, "id", "start", "stop", "event", covs)
    theirs = CoxTimeVaryingFitter().fit(
        frame[["id", "start", "stop", "event", *covs]],
        id_col="id",
        event_col="event",
        start_col="start",
        stop_col="stop",
    )
    assert [t["coef"] for t in ours["terms"]] == pytest.approx(theirs.params_[covs].tolist(), abs=1e-6), name
    assert [t["se"] for t in ours["terms"]] == pytest.approx(theirs.standard_errors_[covs].tolist(), abs=1e-6), name


def test_concordance_with_tied_predictors_matches_r(patient_case, close, json_clean, part):
    # R: coxph(Surv(duration, event) ~ bin1 + bin2): four distinct linear predictors, so most
    # pairs tie; R counts them 1/2 (tied.x), and so must we, exactly.
    name, frame, r = patient_case
    ours = cox_model(frame, "duration", "event", ["bin1", "bin2"])
    json_clean(ours)
    _check_against_r(ours, part(r, "cox_tied_predictors"), close, f"{name} tied predictors")


def test_concordance_counts_equal_linear_predictors_as_ties_as_r():
    # R 4.x survival: coxph(Surv(duration, event) ~ bin1 + bin2, data = demo_os_after_second_line.csv)
    #   concordant 391, discordant 106, tied.x 198, tied.y 1 -> concordance 0.7050359712230216
    frame = pd.read_csv(Path(__file__).resolve().parents[2] / "reference" / "data" / "demo_os_after_second_line.csv")
    result = cox_model(frame, "duration", "event", ["bin1", "bin2"])
    assert result["concordance"] == pytest.approx(0.7050359712230216, abs=1e-12)
    # Two patients with identical covariates must tie whatever the floating-point noise in
    # exp(x'b): only four distinct predictors exist here, so the ties are most of the pairs.
    eta_levels = frame[["bin1", "bin2"]].drop_duplicates()
    assert len(eta_levels) <= 4
