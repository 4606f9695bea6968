"""The registry's outcome analyses: pure functions of analysis frames -> JSON-ready results.

Each analysis takes the frames built by ``analysis.datasets`` and returns a dict in the
versioned shape documented in docs/analysis-results.md. Nothing here touches Django; the
statistics come from ``analysis.stats``. An estimate that cannot be computed (an empty group,
no events, a factor without variation) is reported as ``{"error": "..."}`` in its place, so one
thin subgroup never fails the whole run.
"""

import numpy as np
import pandas as pd

from . import stats
from .stats import StatsInputError

SCHEMA_VERSION = 1
YEARS = (1, 3, 5)
DAYS_PER_YEAR = 365.25
FIXED_TIMES = tuple(y * DAYS_PER_YEAR for y in YEARS)
LANDMARK_DAYS = 180

# The paper's univariate factors (columns of the OS-after-second-line frame), with labels.
UNIVARIATE_FACTORS = {
    "age_under_3_months": "Age at diagnosis < 3 months",
    "cns_involvement": "CNS involvement (CNS3) at diagnosis",
    "wbc_100_or_more": "WBC >= 100 x10^9/L",
    "wbc_300_or_more": "WBC >= 300 x10^9/L",
    "mll_partner": "MLL partner gene",
    "first_remission": "Duration of first remission",
    "relapse_site": "Site of relapse",
    "salvage_remission": "Remission after salvage",
    "hsct": "HSCT after recurrence",
}
# The multivariable model of the paper: baseline factors plus remission after salvage.
COX_COVARIATES = {
    "age_under_3_months": "Age < 3 months",
    "cns_involvement": "CNS involvement",
    "wbc_100_or_more": "WBC >= 100 x10^9/L",
    "no_salvage_remission": "No remission after salvage",
}


def _guard(compute, *args, **kwargs):
    """Run one estimate; a StatsInputError becomes ``{"error": message}`` in the results."""
    try:
        return compute(*args, **kwargs)
    except StatsInputError as exc:
        return {"error": str(exc)}


def _km(frame):
    return _guard(stats.kaplan_meier, frame["time"], frame["event"], times=FIXED_TIMES)


def _by_factor(frame, factor, label):
    groups = frame[factor].astype(str)
    return {
        "factor": factor,
        "label": label,
        "curves": _guard(stats.kaplan_meier_by_group, frame["time"], frame["event"], groups, times=FIXED_TIMES),
        "logrank": _guard(stats.logrank_test, frame["time"], frame["event"], groups),
    }


def _median_range(values):
    values = pd.Series(values).dropna()
    if values.empty:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {
        "n": int(len(values)),
        "median": float(values.median()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def cohort_summary(course):
    """Who was registered and what happened to them: the paper's 'Results' paragraph."""
    recurrent = course["relapse1_date"].notna()
    refractory = course["induction_failure_date"].notna()
    rr = course[recurrent | refractory]
    evaluable = rr[rr["salvage_evaluable"].eq(True)]
    transplanted = rr[rr["hsct_after_recurrence_date"].notna()]
    status = transplanted["hsct_after_recurrence_status"].map(
        {"CR1": "in_remission", "CR2+": "in_remission", "NOT_CR": "not_in_remission", "UNKNOWN": "unknown"}
    )
    remission_months = course.loc[recurrent, "first_remission_months"]
    return {
        "schema": f"cohort_summary/{SCHEMA_VERSION}",
        "n_registered": int(len(course)),
        "by_trial": {str(k): int(v) for k, v in course["trial"].value_counts().sort_index().items()},
        "by_center": {str(k): int(v) for k, v in course["center"].value_counts().sort_index().items()},
        "n_relapsed": int(recurrent.sum()),
        "n_induction_failure": int(refractory.sum()),
        "n_recurrent_or_refractory": int(len(rr)),
        "n_with_second_line": int(rr["second_line_date"].notna().sum()),
        "first_remission_months": _median_range(remission_months),
        "salvage_remission": _guard(
            stats.binomial_proportion, int(evaluable["salvage_remission"].sum()), len(evaluable)
        )
        if len(evaluable)
        else {"error": "no patient with an evaluable salvage response"},
        "transplants_after_recurrence": {
            "n": int(len(transplanted)),
            "in_remission": int((status == "in_remission").sum()),
            "not_in_remission": int((status == "not_in_remission").sum()),
            "unknown": int((status == "unknown").sum()),
        },
        "n_dead": int(course["dead"].sum()),
    }


# Table 1: the characteristics at diagnosis, coded as the registry stores them (labels are the
# report's business). Categorical: (column, levels in display order); continuous: column.
CHARACTERISTICS_CATEGORICAL = {
    "trial": ("Trial", ("MLL96", "MLL98")),
    "sex": ("Sex", ("M", "F")),
    "age_under_3_months": ("Age at diagnosis < 3 months", (1, 0)),
    "wbc_100_or_more": ("WBC >= 100 x10^9/L", (1, 0)),
    "wbc_300_or_more": ("WBC >= 300 x10^9/L", (1, 0)),
    "cns_status": ("CNS status", ("CNS1", "CNS2", "CNS3", "UNKNOWN")),
    "immunophenotype": ("Immunophenotype", ("PRO_B", "COMMON_B", "OTHER", "UNKNOWN")),
    "prednisone_response": ("Prednisone response", ("GOOD", "POOR", "UNKNOWN")),
    "mll_partner": ("MLL partner gene", ("AF4", "ENL", "AF9", "AF10", "OTHER", "UNKNOWN")),
}
CHARACTERISTICS_CONTINUOUS = {
    "age_days": "Age at diagnosis (days)",
    "wbc": "WBC at diagnosis (x10^9/L)",
}
CHARACTERISTICS_GROUPS = ("recurrent_or_refractory", "other", "all")


def patient_characteristics(course):
    """Table 1: characteristics at diagnosis of recurrent or refractory patients vs the rest.

    Counts with percentages of each group (missing values counted in the denominator and
    reported as ``missing``), medians and ranges of age (days) and WBC (x10^9/L).
    """
    rr = course["relapse1_date"].notna() | course["induction_failure_date"].notna()
    frame = course.assign(
        age_under_3_months=(course["age_days"] < 90).astype(int),
        wbc_100_or_more=(course["wbc"] >= 100).astype(int),
        wbc_300_or_more=(course["wbc"] >= 300).astype(int),
    )
    groups = {"recurrent_or_refractory": frame[rr], "other": frame[~rr], "all": frame}
    variables = []
    for column, (label, levels) in CHARACTERISTICS_CATEGORICAL.items():
        rows = []
        for level in levels:
            counts = {g: int((sub[column] == level).sum()) for g, sub in groups.items()}
            rows.append({"level": level, "counts": counts, "percents": _percents(counts, groups)})
        known = {g: int(sub[column].isin(levels).sum()) for g, sub in groups.items()}
        missing = {g: len(sub) - known[g] for g, sub in groups.items()}
        variables.append(
            {"variable": column, "label": label, "kind": "categorical", "levels": rows, "missing": missing}
        )
    for column, label in CHARACTERISTICS_CONTINUOUS.items():
        variables.append(
            {
                "variable": column,
                "label": label,
                "kind": "continuous",
                "summary": {g: _median_range(sub[column]) for g, sub in groups.items()},
            }
        )
    return {
        "schema": f"patient_characteristics/{SCHEMA_VERSION}",
        "groups": {g: int(len(sub)) for g, sub in groups.items()},
        "variables": variables,
    }


def _percents(counts, groups):
    return {g: (100.0 * counts[g] / len(sub) if len(sub) else None) for g, sub in groups.items()}


def os_after_second_line(frame):
    """The paper's main analysis: OS after second-line treatment, univariate and Cox."""
    cox_frame = frame.assign(no_salvage_remission=1 - frame["salvage_remission"])
    return {
        "schema": f"os_after_second_line/{SCHEMA_VERSION}",
        "endpoint": "Overall survival after second-line treatment",
        "origin": "start of the first salvage line after relapse or induction failure",
        "n": int(len(frame)),
        "n_events": int(frame["event"].sum()) if len(frame) else 0,
        "overall": _km(frame),
        "median_follow_up": _guard(stats.reverse_km_median_followup, frame["time"], frame["event"]),
        "univariate": [_by_factor(frame, factor, label) for factor, label in UNIVARIATE_FACTORS.items()],
        "cox": {
            "labels": COX_COVARIATES,
            "note": (
                "Remission after salvage is known only after the origin; see time_dependent for the bias-free model."
            ),
            "model": _guard(stats.cox_model, cox_frame, "time", "event", list(COX_COVARIATES)),
        },
    }


def time_dependent(frame, counting_process):
    """Corrections for immortal-time bias: time-dependent Cox and a landmark analysis."""
    baseline = frame.set_index("patient_id")[["age_under_3_months", "cns_involvement"]]
    cp = counting_process.join(baseline, on="patient_id")
    landmark = _guard(
        stats.landmark_frame,
        frame,
        LANDMARK_DAYS,
        duration_col="time",
        event_col="event",
        status_from={"hsct_by_landmark": "hsct_days", "remission_by_landmark": "salvage_remission_days"},
    )
    result = {
        "schema": f"time_dependent/{SCHEMA_VERSION}",
        "time_dependent_cox": {
            "covariates": ["hsct", "salvage_remission", "age_under_3_months", "cns_involvement"],
            "explanation": (
                "HSCT and remission after salvage switch on at the day they happen, so the time a patient "
                "waited for them alive is not credited to them (no immortal-time bias)."
            ),
            "model": _guard(
                stats.cox_time_varying,
                cp,
                "patient_id",
                "start",
                "stop",
                "event",
                ["hsct", "salvage_remission", "age_under_3_months", "cns_involvement"],
            ),
        },
        "landmark": {"landmark_days": LANDMARK_DAYS},
    }
    if isinstance(landmark, dict):
        result["landmark"]["error"] = landmark["error"]
        return result
    result["landmark"].update(
        {
            "n": int(len(landmark)),
            "n_excluded": int(landmark.attrs.get("n_excluded", 0)),
            "explanation": (
                f"Only patients alive and followed {LANDMARK_DAYS} days after the start of salvage are compared, "
                "by their HSCT and remission status on that day."
            ),
            "by_hsct": _by_factor(landmark, "hsct_by_landmark", "HSCT by the landmark"),
            "by_remission": _by_factor(landmark, "remission_by_landmark", "Remission by the landmark"),
            "cox": _guard(stats.cox_model, landmark, "time", "event", ["hsct_by_landmark", "remission_by_landmark"]),
        }
    )
    return result


def _cif(frame, group=None):
    out = {
        "overall": _guard(stats.cumulative_incidence, frame["time"], frame["event_type"], times=FIXED_TIMES),
    }
    if group is not None:
        groups = frame[group].astype(str)
        out["group"] = group
        out["by_group"] = {
            str(level): _guard(stats.cumulative_incidence, sub["time"], sub["event_type"], times=FIXED_TIMES)
            for level, sub in frame.groupby(groups)
        }
        out["grays_test"] = _guard(stats.grays_test, frame["time"], frame["event_type"], groups)
    return out


def competing_risks(relapse_frame, nrm_frame):
    """Cumulative incidence of relapse (death in remission competing) and NRM after HSCT."""
    return {
        "schema": f"competing_risks/{SCHEMA_VERSION}",
        "relapse_incidence": {
            "population": "patients in first remission, from the date of CR1",
            "event": "relapse",
            "competing": "death in remission",
            "n": int(len(relapse_frame)),
            **_cif(relapse_frame, "trial"),
        },
        "non_relapse_mortality": {
            "population": "transplanted patients, from the first HSCT",
            "event": "death without relapse",
            "competing": "relapse",
            "n": int(len(nrm_frame)),
            **_cif(nrm_frame),
        },
    }


def outcomes_from_diagnosis(os_frame, efs_frame):
    """OS and EFS from diagnosis for the whole cohort, overall and by trial."""
    return {
        "schema": f"outcomes_from_diagnosis/{SCHEMA_VERSION}",
        "os": {"n": int(len(os_frame)), "overall": _km(os_frame), "by_trial": _by_factor(os_frame, "trial", "Trial")},
        "efs": {
            "n": int(len(efs_frame)),
            "events": "induction failure (day 0), relapse, death, second malignancy",
            "overall": _km(efs_frame),
            "by_trial": _by_factor(efs_frame, "trial", "Trial"),
        },
        "median_follow_up": _guard(stats.reverse_km_median_followup, os_frame["time"], os_frame["event"]),
    }


def to_python(value):
    """Make numpy scalars and NaN JSON-safe (None)."""
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_python(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
