"""Recompute every number of an MLL96/MLL98 registry report from its reproducibility package.

    unzip the package into an empty folder, then:   python reproduce.py

Reads only the files beside it: data/*.csv (the de-identified analysis data set: days from
diagnosis, no dates) and expected.json (the numbers the report shows, each with its recipe).
Needs Python 3.11 with pandas, numpy, scipy and lifelines; the statistics are the registry's own
pure functions, shipped in stats/ (no Django, no database). The endpoint frames are derived here
from the data set, independently of the registry's code. Prints how many numbers it reproduced and
exits with status 1 on any difference larger than the tolerance in expected.json.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import stats  # noqa: E402  (the registry's statistics, shipped beside this script)

DAYS_PER_MONTH = 365.25 / 12
LANDMARK = 180
YEARS = (365.25, 1095.75, 1826.25)


def read_table(name):
    # Only an empty cell is missing: a code such as "NA" stays a code.
    return pd.read_csv(
        HERE / "data" / f"{name}.csv",
        encoding="utf-8-sig",
        dtype={"pseudonym": str, "regimen_code": str},
        keep_default_na=False,
        na_values=[""],
    )


def regimen_lines(p, lines):
    """The salvage lines of remission after salvage by regimen: those started on or after the
    patient's first relapse or induction failure, numbered per patient in order of start (1 =
    second-line therapy), the regimen code "" while not coded."""
    lines = lines.merge(p[["pseudonym", "recurrence_days"]], on="pseudonym")
    lines = lines[lines["start_days"] >= lines["recurrence_days"]].copy()
    lines = lines.sort_values(["pseudonym", "start_days", "line_number"], kind="stable")
    lines["number"] = lines.groupby("pseudonym").cumcount() + 1
    lines["regimen_code"] = lines["regimen_code"].fillna("").astype(str)
    return lines


def with_factors(p):
    p = p.copy()
    months = (p["relapse1_days"] - p["cr1_days"]) / DAYS_PER_MONTH
    p["first_remission"] = np.select(
        [p["cr1_days"].isna(), months < 6], ["induction failure", "CR1 < 6 months"], default="CR1 >= 6 months"
    )
    p["relapse_site"] = np.where(
        p["relapse1_days"].isna(),
        "induction failure",
        np.where(p["relapse1_site"] == "BM", "isolated marrow", "extramedullary involved"),
    )
    return p


def endpoint_frames(p):
    """The endpoints as the registry defines them (see reproduce.R for the definitions)."""
    os2 = p[p["recurrence_days"].notna() & p["second_line_days"].notna()].copy()
    os2["time"] = (os2["end_days"] - os2["second_line_days"]).clip(lower=0)
    os2["event"] = os2["death_days"].notna().astype(int)
    os2["hsct"] = os2["hsct_after_recurrence_days"].notna().astype(int)
    os2["hsct_time"] = (os2["hsct_after_recurrence_days"] - os2["second_line_days"]).clip(lower=0)
    os2["remission_time"] = (os2["salvage_remission_days"] - os2["second_line_days"]).clip(lower=0)
    os2["no_salvage_remission"] = 1 - os2["salvage_remission"]

    os_dx = p.assign(time=p["end_days"].clip(lower=0), event=p["death_days"].notna().astype(int))
    first = p[["relapse1_days", "death_days", "second_malignancy_days"]].min(axis=1)
    efs = p.assign(time=first.fillna(p["end_days"]).clip(lower=0), event=first.notna().astype(int))
    failed = p["induction_failure_days"].notna()
    efs.loc[failed, "time"], efs.loc[failed, "event"] = 0.0, 1

    rel = p[p["cr1_days"].notna()].copy()
    death_in_cr = rel["death_days"].where(rel["relapse1_days"].isna())
    rel_first = rel["relapse1_days"].fillna(death_in_cr)
    rel["time"] = (rel_first.fillna(rel["end_days"]) - rel["cr1_days"]).clip(lower=0)
    rel["status"] = np.select([rel["relapse1_days"].notna(), death_in_cr.notna()], [1, 2], default=0)

    nrm = p[p["hsct1_days"].notna()].copy()
    death_without = nrm["death_days"].where(nrm["relapse_after_hsct_days"].isna())
    nrm_first = nrm["relapse_after_hsct_days"].fillna(death_without)
    nrm["time"] = (nrm_first.fillna(nrm["end_days"]) - nrm["hsct1_days"]).clip(lower=0)
    nrm["status"] = np.select([death_without.notna(), nrm["relapse_after_hsct_days"].notna()], [1, 2], default=0)

    landmark = os2[os2["time"] > LANDMARK].copy()
    landmark["time"] = landmark["time"] - LANDMARK
    landmark["hsct_by_landmark"] = (landmark["hsct_time"] <= LANDMARK).astype(int)
    landmark["remission_by_landmark"] = (landmark["remission_time"] <= LANDMARK).astype(int)

    rows = []
    for r in os2.itertuples():
        if r.time <= 0:
            continue
        cuts = sorted({c for c in (r.hsct_time, r.remission_time) if pd.notna(c) and 0 < c < r.time})
        bounds = [0.0, *cuts, float(r.time)]
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            rows.append(
                {
                    "id": r.pseudonym,
                    "start": start,
                    "stop": stop,
                    "event": int(r.event == 1 and stop == r.time),
                    "hsct": int(pd.notna(r.hsct_time) and r.hsct_time <= start),
                    "salvage_remission": int(pd.notna(r.remission_time) and r.remission_time <= start),
                    "age_under_3_months": r.age_under_3_months,
                    "cns_involvement": r.cns_involvement,
                }
            )
    cp = pd.DataFrame(rows)
    return {"os2": os2, "os_dx": os_dx, "efs_dx": efs, "landmark": landmark}, rel, nrm, cp


def main():
    expected = json.loads((HERE / "expected.json").read_text())
    p = with_factors(read_table("patients"))
    frames, rel, nrm, cp = endpoint_frames(p)
    simon_makuch = stats.simon_makuch(cp, "start", "stop", "event", "hsct", id_col="id", times=YEARS)
    paper_model = ["age_under_3_months", "cns_involvement", "wbc_100_or_more", "no_salvage_remission"]
    cox = {
        "os2_cox": stats.cox_model(frames["os2"], "time", "event", paper_model),
        "td_cox": stats.cox_time_varying(
            cp, "id", "start", "stop", "event", ["hsct", "salvage_remission", "age_under_3_months", "cns_involvement"]
        ),
        "landmark_cox": stats.cox_model(
            frames["landmark"], "time", "event", ["hsct_by_landmark", "remission_by_landmark"]
        ),
    }
    rr = p[p["recurrent_or_refractory"] == 1]
    status = {"CR1": "in_remission", "CR2+": "in_remission", "NOT_CR": "not_in_remission", "UNKNOWN": "unknown"}
    hsct = rr.loc[rr["hsct_after_recurrence_days"].notna(), "hsct_after_recurrence_status"].map(status)
    evaluable = rr[rr["salvage_evaluable"].astype(str).isin(["1", "1.0", "True", "true"])]
    binom = stats.binomial_proportion(int(evaluable["salvage_remission"].sum()), len(evaluable))
    months = ((p["relapse1_days"] - p["cr1_days"]) / DAYS_PER_MONTH)[p["relapse1_days"].notna()]
    salvage = regimen_lines(p, read_table("salvage_lines"))
    counts = {
        "n_registered": len(p),
        "n_relapsed": int(p["relapse1_days"].notna().sum()),
        "n_induction_failure": int(p["induction_failure_days"].notna().sum()),
        "n_recurrent_or_refractory": len(rr),
        "n_with_second_line": int(rr["second_line_days"].notna().sum()),
        "n_dead": int((p["dead"] == 1).sum()),
        "hsct_n": len(hsct),
        "hsct_in_remission": int((hsct == "in_remission").sum()),
        "hsct_not_in_remission": int((hsct == "not_in_remission").sum()),
        "hsct_unknown": int((hsct == "unknown").sum()),
    }
    groups = {"recurrent_or_refractory": rr, "other": p[p["recurrent_or_refractory"] == 0], "all": p}

    def subset(d, column, level):
        return d if column is None else d[d[column].astype(str) == str(level)]

    def km(d, x):
        fit = stats.kaplan_meier(d["time"], d["event"], times=[x["time"]] if "time" in x else ())
        if x["kind"] == "median":
            return fit["median"]["time"]
        return fit["at_times"][0][x["what"]]

    def compute(x):
        kind = x["kind"]
        if kind == "count":
            return counts[x["what"]]
        if kind == "salvage":
            return binom[x["what"]]
        if kind == "salvage_regimen":
            code = x["regimen_code"]
            d = salvage if code is None else salvage[salvage["regimen_code"] == code]
            evaluable = d[d["response"] != "NE"]
            if x["what"] in ("successes", "proportion", "lower", "upper"):
                return stats.binomial_proportion(int((evaluable["response"] == "CR").sum()), len(evaluable))[x["what"]]
            return {
                "n_lines": len(d),
                "n_patients": d["pseudonym"].nunique(),
                "n_second_line": int((d["number"] == 1).sum()),
                "n_evaluable": len(evaluable),
            }[x["what"]]
        if kind == "first_remission":
            return {"n": len(months), "median": months.median(), "min": months.min(), "max": months.max()}[x["what"]]
        if kind in ("characteristic", "characteristic_median"):
            d = groups[x["group"]]
            column = "age_at_diagnosis_days" if x["variable"] == "age_days" else x["variable"]
            if kind == "characteristic_median":
                return d[column].median()
            return int((d[column].astype(str) == str(x["level"])).sum())
        if kind in ("km", "median") and x["endpoint"] == "simon_makuch":
            curve = simon_makuch["groups"][x["level"]]
            if kind == "median":
                return curve["median"]["time"]
            return next(a for a in curve["at_times"] if a["time"] == x["time"])[x["what"]]
        if kind in ("km", "median"):
            return km(subset(frames[x["endpoint"]], x["factor"], x["level"]), x)
        if kind == "logrank":
            d = frames[x["endpoint"]]
            return stats.logrank_test(d["time"], d["event"], d[x["factor"]].astype(str))["chi2"]
        if kind == "follow_up":
            d = frames[x["endpoint"]]
            return stats.reverse_km_median_followup(d["time"], d["event"])["median_days"]
        if kind == "cox":
            term = next(t for t in cox[x["model"]]["terms"] if t["term"] == x["term"])
            return term[x["what"]]
        if kind == "cif":
            d = subset(rel if x["endpoint"] == "relapse" else nrm, x["group"], x["level"])
            fit = stats.cumulative_incidence(d["time"], d["status"], times=[x["time"]])
            return fit["causes"]["1"]["at_times"][0]["estimate"]
        if kind == "gray":
            d = rel if x["endpoint"] == "relapse" else nrm
            return stats.grays_test(d["time"], d["status"], d[x["group"]].astype(str))["chi2"]
        raise ValueError(f"unknown kind {kind}")

    failed = 0
    for x in expected["numbers"]:
        try:
            got = compute(x)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
            got, reason = None, f" ({exc})"
        else:
            reason = ""
        if got is None or not np.isfinite(got) or abs(got - x["value"]) > expected["tolerance"]:
            failed += 1
            print(f"DIFFERENT {x['id']}: report {x['value']!r}, Python {got!r}{reason}")
    total = len(expected["numbers"])
    tolerance = expected["tolerance"]
    print(f"{total - failed} of {total} numbers of the report reproduced with Python (tolerance {tolerance:g}).")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
