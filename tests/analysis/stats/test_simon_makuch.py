"""Simon-Makuch curves against R survfit(Surv(start, stop, event) ~ transplanted)."""

import pandas as pd
import pytest

from analysis.stats import StatsInputError, simon_makuch
from tests.analysis.stats.test_kaplan_meier import at_event_times

TOL = 1e-10


def test_matches_r_survfit_on_counting_process_data(cp_case, close, json_clean, part):
    name, frame, r = cp_case
    r_sm = part(r, "simon_makuch")
    ours = simon_makuch(frame, "start", "stop", "event", "transplanted")
    json_clean(ours)
    assert sorted(ours["groups"]) == sorted(r_sm)
    for state, r_curve in r_sm.items():
        table = ours["groups"][state]["table"]
        at_times = r_curve["at_surv"]
        r_curve = at_event_times(r_curve)  # our table holds the event times
        close(table["time"], r_curve["time"], 0, f"{name} {state} time")
        close(table["n_at_risk"], r_curve["n_risk"], 0, f"{name} {state} n.risk")
        close(table["n_event"], r_curve["n_event"], 0, f"{name} {state} n.event")
        close(table["survival"], r_curve["surv"], TOL, f"{name} {state} surv")
        close(table["std_err"], r_curve["std_err"], TOL, f"{name} {state} std.err")
        close(table["lower"], r_curve["lower"], TOL, f"{name} {state} lower")
        close(table["upper"], r_curve["upper"], TOL, f"{name} {state} upper")
        at = [a["survival"] for a in ours["groups"][state]["at_times"]][: len(at_times)]
        close(at, at_times, TOL, f"{name} {state} at times")


def test_a_patient_moves_between_curves_at_the_change():
    # one patient transplanted on day 10, dies on day 20: at risk untransplanted on (0, 10],
    # transplanted on (10, 20]; the death counts in the transplanted curve only
    frame = pd.DataFrame({"start": [0, 10, 0], "stop": [10, 20, 30], "event": [0, 1, 0], "hsct": [0, 1, 0]})
    curves = simon_makuch(frame, "start", "stop", "event", "hsct", times=[15, 25])["groups"]
    assert curves["0"]["table"]["survival"] == [] and curves["0"]["n_events"] == 0  # no event: flat
    assert curves["0"]["last_time"] == 30.0 and curves["0"]["censor_times"] == [10.0, 30.0]
    assert curves["1"]["table"]["survival"] == [0.0] and curves["1"]["n_events"] == 1
    assert [r["n_at_risk"] for r in curves["0"]["risk_table"][:1]] == [2]


def test_intervals_must_be_positive():
    frame = pd.DataFrame({"start": [5], "stop": [5], "event": [1], "hsct": [1]})
    with pytest.raises(StatsInputError, match="greater than"):
        simon_makuch(frame, "start", "stop", "event", "hsct")
