"""Synthetic analysis frames and their stored-shape results, for report and figure tests."""

import numpy as np
import pandas as pd

from analysis import datasets
from analysis.analyses import os_after_second_line, time_dependent, to_python
from registry.course import AGE_UNDER_3_MONTHS_DAYS, WBC_HIGH, WBC_VERY_HIGH


def os_frame(n=60, seed=7):
    """An OS-after-second-line frame with every column the analysis reads."""
    rng = np.random.default_rng(seed)
    remission = rng.integers(0, 2, n)
    time = np.round(rng.exponential(500 + 900 * remission, n)) + 1
    frame = pd.DataFrame(
        {
            "patient_id": np.arange(1, n + 1),
            "study_id": [f"MLL96-{i:04d}" for i in range(1, n + 1)],
            "age_under_3_months": rng.integers(0, 2, n),
            "cns_involvement": (rng.random(n) < 0.2).astype(int),
            "wbc_100_or_more": rng.integers(0, 2, n),
            "wbc_300_or_more": (rng.random(n) < 0.3).astype(int),
            "mll_partner": rng.choice(["AF4", "ENL", "AF9"], n),
            "first_remission": rng.choice(["induction failure", "CR1 < 6 months", "CR1 >= 6 months"], n),
            "relapse_site": rng.choice(["isolated marrow", "extramedullary involved"], n),
            "salvage_remission": remission,
            "hsct": rng.integers(0, 2, n),
            "time": np.minimum(time, 2500.0),
            "event": ((time < 2500) & (rng.random(n) < 0.8)).astype(int),
        }
    )
    frame["hsct_days"] = np.where(frame["hsct"] == 1, np.minimum(frame["time"], 90.0), np.nan)
    frame["salvage_remission_days"] = np.where(remission == 1, np.minimum(frame["time"], 30.0), np.nan)
    return frame


def os_results(frame=None):
    frame = os_frame() if frame is None else frame
    return to_python(os_after_second_line.os_after_second_line(frame))


def time_dependent_results(frame=None):
    frame = os_frame() if frame is None else frame
    return to_python(time_dependent.time_dependent(frame, datasets.counting_process(frame)))


def course_frame(n=40, seed=3):
    """A course frame with the columns Table 1 and the cohort summary read."""
    rng = np.random.default_rng(seed)
    relapsed = rng.random(n) < 0.4
    refractory = ~relapsed & (rng.random(n) < 0.1)
    day = pd.Timestamp("1997-01-01")
    frame = pd.DataFrame(
        {
            "trial": rng.choice(["MLL96", "MLL98"], n),
            "sex": rng.choice(["M", "F"], n),
            "age_days": rng.integers(10, 360, n).astype(float),
            "wbc": rng.uniform(2, 900, n).round(1),
            "cns_status": rng.choice(["CNS1", "CNS2", "CNS3", "UNKNOWN"], n),
            "immunophenotype": rng.choice(["PRO_B", "COMMON_B"], n),
            "prednisone_response": rng.choice(["GOOD", "POOR"], n),
            "mll_partner": rng.choice(["AF4", "ENL", "AF9", "AF10", "OTHER", "UNKNOWN"], n),
            "relapse1_date": pd.Series([day if r else pd.NaT for r in relapsed]),
            "induction_failure_date": pd.Series([day if r else pd.NaT for r in refractory]),
        }
    )
    # The course frame's derived facts (registry.course.course_frame derives them the same way).
    return frame.assign(
        recurrent_or_refractory=(relapsed | refractory).astype(int),
        age_under_3_months=(frame["age_days"] < AGE_UNDER_3_MONTHS_DAYS).astype(int),
        wbc_100_or_more=(frame["wbc"] >= WBC_HIGH).astype(int),
        wbc_300_or_more=(frame["wbc"] >= WBC_VERY_HIGH).astype(int),
    )


def compute_report(parameters=None):
    """Store a successful run of every report analysis for ``parameters``, as a worker would."""
    from analysis import runs
    from analysis.analyses import REPORT_ANALYSES
    from analysis.models import AnalysisRun

    done = {}
    for name in REPORT_ANALYSES:
        run = AnalysisRun.objects.create(
            name=name, trigger=AnalysisRun.Trigger.COMMAND, parameters=runs.normalize_parameters(parameters)
        )
        done[name] = runs.execute_run(run.pk)
        assert done[name].status == "succeeded", done[name].error
    return done


def registry_cohort(n, *, center, trial_code="MLL96", start=0):
    """``n`` patients with a recurrent course at ``center``; every third dies after salvage."""
    from datetime import timedelta

    from tests import factories

    patients = []
    for i in range(start, start + n):
        patient = factories.PatientFactory(
            center=center,
            trial=factories.trial(trial_code),
            study_id=f"{trial_code}-{i + 1:04d}",
            cns_status="CNS3" if i % 4 == 0 else "CNS1",
            wbc=80 + 40 * (i % 5),
        )
        factories.FirstLineResponseFactory(patient=patient)
        factories.RelapseFactory(patient=patient, relapse_date=patient.diagnosis_date + timedelta(days=150 + 7 * i))
        factories.SalvageLineFactory(
            patient=patient,
            start_date=patient.diagnosis_date + timedelta(days=160 + 7 * i),
            response="CR" if i % 2 else "NR",
            response_date=patient.diagnosis_date + timedelta(days=190 + 7 * i) if i % 2 else None,
        )
        if i % 3 == 0:
            death = patient.diagnosis_date + timedelta(days=400 + 30 * i)
            factories.FollowUpFactory(
                patient=patient, contact_date=death, vital_status="DEAD", death_date=death, cause_of_death="LEUKEMIA"
            )
        else:
            contact = patient.diagnosis_date + timedelta(days=1500 + 20 * i)
            factories.FollowUpFactory(patient=patient, contact_date=contact)
        patients.append(patient)
    return patients
