"""`make bench`: each statistic of ``analysis.stats`` against R's survival / cmprsk on the same data.

One synthetic cohort per size (1,000, 100,000 and 1,000,000 patients, seeded numpy), written to
CSV once (``var/bench/``); Python and R read the same files. Each statistic is timed in three
interleaved repetitions (Python's i-th, then R's i-th) and the minimum of each side is kept. R
runs ``tests/bench/stats_vs_r.R`` and times each call with ``system.time``; reading the CSV is
not timed on either side. Agreement: the largest absolute difference between the numbers both
sides print (coefficients, chi-squares, estimates at 1, 3 and 5 years).

No database is needed. ``python -m tests.bench.run`` calls this after its own benchmarks.

Usage: python -m tests.bench.stats_vs_r [--sizes 1000,100000,1000000] [--repeats 3]
Writes the section "## Statistics against R" of docs/benchmarks.md and leaves the others.
"""

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import stats  # imported (lifelines and all) before anything is timed
from tests.bench.run import commit, merge_report

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "var" / "bench"
R_SCRIPT = Path(__file__).with_name("stats_vs_r.R")
SEED = 16
COVARIATES = ["x1", "x2", "x3", "x4", "x5"]
TIMES = (365.25, 1095.75, 1826.25)


# ---------------------------------------------------------------- the cohort


def cohort(n: int, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per patient, (start, stop] rows split at the transplant), times in whole days.

    Five binary risk factors and two trials (the strata) act on an exponential hazard; 30% get a
    transplant between 30 days and 2 years, after which the hazard is lower (HR 0.67). Follow-up
    is censored uniformly between 6 months and 10 years: about 40% have an event, 70% of them a
    relapse (type 1), the rest death in remission (type 2). Whole days make many tied times.
    """
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 5)) < np.array([0.5, 0.3, 0.2, 0.4, 0.1])).astype(int)
    trial = rng.integers(0, 2, n)
    hazard = 0.00025 * np.exp(x @ np.array([0.5, -0.3, 0.4, 0.2, -0.6]) + 0.2 * trial)  # per day
    event_day = rng.exponential(1 / hazard)
    transplant_day = np.where(rng.random(n) < 0.3, np.ceil(rng.uniform(30, 730, n)), np.inf)
    after = event_day > transplant_day
    event_day[after] = transplant_day[after] + (event_day[after] - transplant_day[after]) * 1.5
    censor_day = rng.uniform(180, 3650, n)
    days = np.ceil(np.minimum(event_day, censor_day))
    event = (event_day <= censor_day).astype(int)
    event_type = np.where(event == 1, np.where(rng.random(n) < 0.7, 1, 2), 0)
    patients = pd.DataFrame(
        {"id": np.arange(n), "time": days, "event": event, "event_type": event_type, "trial": trial}
        | {name: x[:, j] for j, name in enumerate(COVARIATES)}
    )
    split = transplant_day < days
    before = patients.assign(
        start=0.0, stop=np.where(split, transplant_day, days), event=np.where(split, 0, event), transplanted=0
    )
    since = patients[split].assign(start=transplant_day[split], stop=days[split], transplanted=1)
    counting = pd.concat([before, since]).sort_values(["id", "start"], kind="stable")
    counting = counting[["id", "start", "stop", "event", "transplanted", *COVARIATES, "trial"]]
    return patients, counting.reset_index(drop=True)


def cohort_files(n: int) -> tuple[Path, Path]:
    """The cohort's two CSV files, written on first use (deterministic, so kept between runs)."""
    paths = (DATA_DIR / f"stats_vs_r_{n}_seed{SEED}_patients.csv", DATA_DIR / f"stats_vs_r_{n}_seed{SEED}_cp.csv")
    if not all(p.exists() for p in paths):
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        for frame, path in zip(cohort(n), paths, strict=True):
            frame.to_csv(path, index=False)
    return paths


# ---------------------------------------------------------------- the statistics, as the registry calls them


def _km(pat, cp):
    at = stats.kaplan_meier(pat["time"], pat["event"], times=TIMES)["at_times"]
    return [a["survival"] for a in at] + [a["std_err"] for a in at]


def _logrank(pat, cp):
    return [stats.logrank_test(pat["time"], pat["event"], pat["x1"])["chi2"]]


def _cox(frame, *args, **kwargs):
    return [t["coef"] for t in stats.cox_model(frame, *args, **kwargs)["terms"]]


def _cox_counting(frame, **kwargs):
    fit = stats.cox_time_varying(frame, "id", "start", "stop", "event", [*COVARIATES, "transplanted"], **kwargs)
    return [t["coef"] for t in fit["terms"]]


def _cif(pat, cp):
    causes = stats.cumulative_incidence(pat["time"], pat["event_type"], times=TIMES)["causes"]
    return [a[key] for key in ("estimate", "variance") for c in "12" for a in causes[c]["at_times"]]


def _cif_gray(pat, cp):
    for _, group in pat.groupby("x1"):
        stats.cumulative_incidence(group["time"], group["event_type"], times=TIMES)
    test = stats.grays_test(pat["time"], pat["event_type"], pat["x1"])
    return [test["by_cause"][c]["chi2"] for c in "12"]


def _gray_strata(pat, cp):
    test = stats.grays_test(pat["time"], pat["event_type"], pat["x1"], strata=pat["trial"])
    return [test["by_cause"][c]["chi2"] for c in "12"]


def _simon_makuch(pat, cp):
    curves = stats.simon_makuch(cp, "start", "stop", "event", "transplanted", id_col="id", times=TIMES)["groups"]
    return [a["survival"] for g in ("0", "1") for a in curves[g]["at_times"]]


# key (as in stats_vs_r.R): (what the table calls it, the registry's call returning the numbers R prints)
STATISTICS = {
    "km": ("Kaplan-Meier with 1/3/5-year estimates, quantiles, RMST", _km),
    "logrank": ("log-rank, 2 groups", _logrank),
    "cox_efron": ("Cox, Efron, 5 covariates, with cox.zph", lambda p, c: _cox(p, "time", "event", COVARIATES)),
    "cox_breslow": (
        "Cox, Breslow, 5 covariates, with cox.zph",
        lambda p, c: _cox(p, "time", "event", COVARIATES, ties="breslow"),
    ),
    "cox_strata": (
        "Cox, Efron, 2 strata, with cox.zph",
        lambda p, c: _cox(p, "time", "event", COVARIATES, strata="trial"),
    ),
    "cox_counting": ("counting-process Cox, Efron, 6 covariates, with cox.zph", lambda p, c: _cox_counting(c)),
    "cox_counting_strata": (
        "counting-process Cox, Breslow, 2 strata, with cox.zph",
        lambda p, c: _cox_counting(c, ties="breslow", strata="trial"),
    ),
    "cif": ("cumulative incidence, 2 causes, with variance", _cif),
    "cif_gray": ("CIF by 2 groups + Gray's test", _cif_gray),
    "gray_strata": ("Gray's test, 2 groups, 2 strata", _gray_strata),
    "simon_makuch": ("Simon-Makuch curves (start, stop]", _simon_makuch),
}


# ---------------------------------------------------------------- timing


def run_python(pat, cp) -> dict:
    out = {}
    for key, (_, call) in STATISTICS.items():
        start = time.perf_counter()
        values = call(pat, cp)
        out[key] = (time.perf_counter() - start, [np.nan if v is None else float(v) for v in values])
    return out


def run_r(paths) -> tuple[dict, str]:
    result = subprocess.run(
        ["Rscript", str(R_SCRIPT), *map(str, paths)], capture_output=True, text=True, check=True, timeout=7200
    )
    seconds, values, version = {}, {}, ""
    for line in result.stdout.splitlines():
        kind, key, *rest = line.split()
        if kind == "time":
            seconds[key] = float(rest[0])
        elif kind == "value":
            values[key] = [np.nan if v == "NA" else float(v) for v in rest]
        elif kind == "version":
            version = " ".join([key, *rest])
    return {key: (seconds[key], values[key]) for key in seconds}, version


def measure(n: int, repeats: int) -> dict:
    paths = cohort_files(n)
    pat, cp = (pd.read_csv(p) for p in paths)
    python_runs, r_runs = [], []
    for i in range(repeats):
        print(f"  {n:,} patients: Python, repetition {i + 1}", file=sys.stderr, flush=True)
        python_runs.append(run_python(pat, cp))
        print(f"  {n:,} patients: R, repetition {i + 1}", file=sys.stderr, flush=True)
        r_result, version = run_r(paths)
        r_runs.append(r_result)
    rows = []
    for key, (label, _) in STATISTICS.items():
        ours, theirs = python_runs[0][key][1], r_runs[0][key][1]
        assert len(ours) == len(theirs), f"{key}: {len(ours)} numbers against R's {len(theirs)}"
        rows.append(
            {
                "key": key,
                "label": label,
                "python": min(run[key][0] for run in python_runs),
                "r": min(run[key][0] for run in r_runs),
                "diff": float(np.nanmax(np.abs(np.array(ours) - np.array(theirs)))),
            }
        )
    return {
        "patients": n,
        "rows_counting": len(cp),
        "events": float(pat["event"].mean()),
        "rows": rows,
        "r_version": version,
    }


# ---------------------------------------------------------------- report


def markdown(results: list[dict], started: str, load: tuple, repeats: int) -> str:
    version = results[0]["r_version"] if results else ""
    lines = [
        "## Statistics against R",
        "",
        f"Measured on {started} UTC at commit {commit()} by `python -m tests.bench.stats_vs_r` "
        f"({os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {version}; load average "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end: other work shared the machine).",
        "A synthetic cohort per size (`cohort()` in the bench: 5 binary covariates, 2 trials as strata, a",
        "transplant as time-varying covariate, whole-day times, about 40% events of 2 competing types), one CSV",
        "read by both sides.",
        "**registry**: the `analysis.stats` call as the analyses make it (input checks and JSON-ready output",
        "included); **R**: the same estimates by survival / cmprsk (`tests/bench/stats_vs_r.R`), timed with",
        f"`system.time`; each the minimum of {repeats} interleaved repetitions. **ratio** = registry / R",
        "(below 1: faster than R). **max abs diff**: largest absolute difference between the numbers both",
        "print (Cox coefficients, chi-squares, estimates and variances at 1/3/5 years).",
        "",
        "| statistic | patients | registry | R | ratio | max abs diff |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, (label, _) in STATISTICS.items():
        for result in results:
            row = next(r for r in result["rows"] if r["key"] == key)
            lines.append(
                f"| {label} | {result['patients']:,} | {row['python']:.3f} s | {row['r']:.3f} s | "
                f"{row['python'] / row['r']:.2f} | {row['diff']:.1e} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    load_start = os.getloadavg()[0]
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"statistics against R, {n:,} patients ...", file=sys.stderr, flush=True)
        results.append(measure(n, args.repeats))
    merge_report([markdown(results, started, (load_start, os.getloadavg()[0]), args.repeats)], "stats_vs_r")


if __name__ == "__main__":
    main()
