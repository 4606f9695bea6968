"""Registry rows -> tidy pandas frames, one row per patient per endpoint.

A handful of set-based queries (one per table) build a per-patient ``course`` frame; each
endpoint is then derived from it with the population, time origin, event and censoring of
shared/DOMAIN.md. Times are in days (``time``); events are 0/1 (``event``) or, for competing
risks, 0 = censored, 1 = the event of interest, 2 = the competing event (``event_type``).

Censoring when follow-up is missing: a patient without any follow-up contact is censored at
the latest date known for them (their latest recorded event), never dropped silently.
"""

import hashlib

import numpy as np
import pandas as pd

from registry.models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant

DAYS_PER_MONTH = 365.25 / 12
FIRST_REMISSION_CUTOFF_MONTHS = 6


def _frame(queryset, columns):
    rows = list(queryset.values_list(*columns))
    return pd.DataFrame(rows, columns=columns)


def _days(later, earlier):
    return (pd.to_datetime(later) - pd.to_datetime(earlier)).dt.days.astype("float64")


def course_frame(patients=None):
    """One row per patient with the dates and facts every endpoint needs.

    ``patients`` is a Patient queryset (default: all patients); the other tables are read with
    ``patient__in`` sub-queries, so the cost is one query per table whatever the cohort size.
    """
    patients = Patient.objects.all() if patients is None else patients
    base = _frame(
        patients.order_by("pk"),
        [
            "pk",
            "study_id",
            "center__code",
            "trial__code",
            "sex",
            "date_of_birth",
            "diagnosis_date",
            "wbc",
            "cns_status",
            "immunophenotype",
            "prednisone_response",
            "mll_partner",
        ],
    ).rename(columns={"pk": "patient_id", "center__code": "center", "trial__code": "trial"})
    scope = {"patient__in": patients.values("pk")}

    first_line = _frame(FirstLineResponse.objects.filter(**scope), ["patient_id", "outcome", "assessment_date"])
    relapses = _frame(Relapse.objects.filter(**scope), ["patient_id", "relapse_date", "site"])
    salvage = _frame(SalvageLine.objects.filter(**scope), ["patient_id", "start_date", "response", "response_date"])
    transplants = _frame(Transplant.objects.filter(**scope), ["patient_id", "transplant_date", "disease_status"])
    follow_ups = _frame(
        FollowUp.objects.filter(**scope),
        ["patient_id", "contact_date", "vital_status", "death_date", "cause_of_death", "second_malignancy_date"],
    )

    df = base.merge(first_line, on="patient_id", how="left")
    df["wbc"] = df["wbc"].astype("float64")
    for col in ("date_of_birth", "diagnosis_date", "assessment_date"):
        df[col] = pd.to_datetime(df[col])
    df["age_days"] = _days(df["diagnosis_date"], df["date_of_birth"])
    df["cr1_date"] = df["assessment_date"].where(df["outcome"] == "CR")
    df["induction_failure_date"] = df["assessment_date"].where(df["outcome"] == "INDUCTION_FAILURE")

    relapses["relapse_date"] = pd.to_datetime(relapses["relapse_date"])
    first_relapse = relapses.sort_values("relapse_date").groupby("patient_id").first()
    df = df.merge(
        first_relapse.rename(columns={"relapse_date": "relapse1_date", "site": "relapse1_site"}),
        left_on="patient_id",
        right_index=True,
        how="left",
    )
    df["recurrence_date"] = df["relapse1_date"].fillna(df["induction_failure_date"])

    # Second-line therapy starts with the first salvage line on or after the first recurrence.
    salvage["start_date"] = pd.to_datetime(salvage["start_date"])
    salvage["response_date"] = pd.to_datetime(salvage["response_date"])
    salvage = salvage.merge(df[["patient_id", "recurrence_date"]], on="patient_id")
    salvage = salvage[salvage["start_date"] >= salvage["recurrence_date"]]
    by_patient = salvage.groupby("patient_id")
    second_line = pd.DataFrame(
        {
            "second_line_date": by_patient["start_date"].min(),
            "salvage_evaluable": (salvage["response"] != "NE").groupby(salvage["patient_id"]).any(),
            "salvage_remission_date": salvage[salvage["response"] == "CR"].groupby("patient_id")["response_date"].min(),
        }
    )
    df = df.merge(second_line, left_on="patient_id", right_index=True, how="left")
    df["salvage_remission"] = df["salvage_remission_date"].notna().astype(int)

    transplants["transplant_date"] = pd.to_datetime(transplants["transplant_date"])
    first_hsct = transplants.sort_values("transplant_date").groupby("patient_id").first()
    df = df.merge(
        first_hsct.rename(columns={"transplant_date": "hsct_date", "disease_status": "hsct_status"}),
        left_on="patient_id",
        right_index=True,
        how="left",
    )
    after = transplants.merge(df[["patient_id", "recurrence_date"]], on="patient_id")
    after = after[after["transplant_date"] >= after["recurrence_date"]].sort_values("transplant_date")
    post = after.groupby("patient_id").first()
    df = df.merge(
        post.rename(
            columns={"transplant_date": "hsct_after_recurrence_date", "disease_status": "hsct_after_recurrence_status"}
        )[["hsct_after_recurrence_date", "hsct_after_recurrence_status"]],
        left_on="patient_id",
        right_index=True,
        how="left",
    )

    for col in ("contact_date", "death_date", "second_malignancy_date"):
        follow_ups[col] = pd.to_datetime(follow_ups[col])
    fu = follow_ups.groupby("patient_id").agg(
        last_contact_date=("contact_date", "max"),
        death_date=("death_date", "min"),
        second_malignancy_date=("second_malignancy_date", "min"),
    )
    causes = follow_ups.dropna(subset=["death_date"]).set_index("patient_id")["cause_of_death"]
    df = df.merge(fu, left_on="patient_id", right_index=True, how="left")
    df["cause_of_death"] = df["patient_id"].map(causes)
    known = df[["diagnosis_date", "assessment_date", "relapse1_date", "second_line_date", "hsct_date", "death_date"]]
    df["last_known_date"] = df["last_contact_date"].fillna(known.max(axis=1))
    df["dead"] = df["death_date"].notna().astype(int)
    # The end of observation: death, or the last date the patient was known alive.
    df["end_date"] = df["death_date"].fillna(df["last_known_date"])

    df["first_remission_months"] = _days(df["relapse1_date"], df["cr1_date"]) / DAYS_PER_MONTH
    return df


def _covariates(df):
    """Baseline factors of the paper's univariate analysis, as columns of 0/1 or labels."""
    out = pd.DataFrame(index=df.index)
    out["age_under_3_months"] = (df["age_days"] < 90).astype(int)
    out["cns_involvement"] = (df["cns_status"] == "CNS3").astype(int)
    out["wbc_100_or_more"] = (df["wbc"] >= 100).astype(int)
    out["wbc_300_or_more"] = (df["wbc"] >= 300).astype(int)
    out["mll_partner"] = df["mll_partner"]
    out["partner_af4"] = (df["mll_partner"] == "AF4").astype(int)
    out["first_remission"] = np.select(
        [df["cr1_date"].isna(), df["first_remission_months"] < FIRST_REMISSION_CUTOFF_MONTHS],
        ["induction failure", f"CR1 < {FIRST_REMISSION_CUTOFF_MONTHS} months"],
        default=f"CR1 >= {FIRST_REMISSION_CUTOFF_MONTHS} months",
    )
    out["relapse_site"] = np.where(
        df["relapse1_date"].isna(),
        "induction failure",
        np.where(df["relapse1_site"] == "BM", "isolated marrow", "extramedullary involved"),
    )
    out["trial"] = df["trial"]
    out["center"] = df["center"]
    return out


def _endpoint(df, origin, event_date, *, event=None):
    """time (days) from ``origin`` to the event or censoring, and the 0/1 event flag."""
    happened = event_date.notna() if event is None else event
    stop = event_date.where(happened, df["end_date"])
    stop = stop.where(~happened, event_date)
    time = _days(stop, origin).clip(lower=0)
    return time, happened.astype(int)


def os_after_second_line(df):
    """OS after second-line treatment: recurrent or refractory patients who started salvage.

    Origin: start of the first salvage line after the first relapse or induction failure.
    Event: death from any cause. Censored: at the last contact alive.
    """
    pop = df[df["recurrence_date"].notna() & df["second_line_date"].notna()].copy()
    time, event = _endpoint(pop, pop["second_line_date"], pop["death_date"])
    out = pd.concat([pop[["patient_id", "study_id"]], _covariates(pop)], axis=1)
    out["time"], out["event"] = time, event
    out["refractory"] = pop["relapse1_date"].isna().astype(int)
    out["salvage_remission"] = pop["salvage_remission"]
    out["hsct"] = pop["hsct_after_recurrence_date"].notna().astype(int)
    # Days from the origin to HSCT and to remission (NaN: never), for time-dependent analyses.
    out["hsct_days"] = _days(pop["hsct_after_recurrence_date"], pop["second_line_date"]).clip(lower=0)
    out["salvage_remission_days"] = _days(pop["salvage_remission_date"], pop["second_line_date"]).clip(lower=0)
    return out.reset_index(drop=True)


def os_from_diagnosis(df):
    """OS from diagnosis: every registered patient; death from any cause; censored at last contact."""
    time, event = _endpoint(df, df["diagnosis_date"], df["death_date"])
    out = pd.concat([df[["patient_id", "study_id"]], _covariates(df)], axis=1)
    out["time"], out["event"] = time, event
    return out.reset_index(drop=True)


def efs_from_diagnosis(df):
    """EFS from diagnosis: every registered patient.

    Events: induction failure (at day 0 by convention), relapse, death, second malignancy,
    whichever is first. Censored: at the last contact event-free.
    """
    induction_failure = df["induction_failure_date"].notna()
    first_event = pd.concat([df["relapse1_date"], df["death_date"], df["second_malignancy_date"]], axis=1).min(axis=1)
    time, event = _endpoint(df, df["diagnosis_date"], first_event)
    time = time.where(~induction_failure, 0.0)
    event = event.where(~induction_failure, 1)
    out = pd.concat([df[["patient_id", "study_id"]], _covariates(df)], axis=1)
    out["time"], out["event"] = time, event
    return out.reset_index(drop=True)


def relapse_incidence(df):
    """Cumulative incidence of relapse: patients in CR1, from the date of CR1.

    event_type 1 = relapse, 2 = death in remission (competing), 0 = censored at last contact.
    """
    pop = df[df["cr1_date"].notna()].copy()
    relapse = pop["relapse1_date"]
    death_in_cr = pop["death_date"].where(relapse.isna())
    first = relapse.fillna(death_in_cr)
    time, event = _endpoint(pop, pop["cr1_date"], first)
    out = pd.concat([pop[["patient_id", "study_id"]], _covariates(pop)], axis=1)
    out["time"] = time
    out["event_type"] = np.select([relapse.notna(), death_in_cr.notna()], [1, 2], default=0)
    return out.reset_index(drop=True)


def non_relapse_mortality_after_hsct(df, relapses=None):
    """Non-relapse mortality after the first HSCT: transplanted patients, from the HSCT date.

    event_type 1 = death without relapse after HSCT, 2 = relapse after HSCT (competing),
    0 = censored at last contact. ``relapses`` (patient_id, relapse_date) supplies relapses
    after the transplant; by default they are read from the registry.
    """
    pop = df[df["hsct_date"].notna()].copy()
    if relapses is None:
        relapses = _frame(
            Relapse.objects.filter(patient_id__in=pop["patient_id"].tolist()), ["patient_id", "relapse_date"]
        )
    relapses = relapses.assign(relapse_date=pd.to_datetime(relapses["relapse_date"]))
    later = relapses.merge(pop[["patient_id", "hsct_date"]], on="patient_id")
    later = later[later["relapse_date"] > later["hsct_date"]].groupby("patient_id")["relapse_date"].min()
    relapse_after = pop["patient_id"].map(later)
    death_without = pop["death_date"].where(relapse_after.isna())
    time, _ = _endpoint(pop, pop["hsct_date"], relapse_after.fillna(death_without))
    out = pd.concat([pop[["patient_id", "study_id"]], _covariates(pop)], axis=1)
    out["time"] = time
    out["event_type"] = np.select([death_without.notna(), relapse_after.notna()], [1, 2], default=0)
    return out.reset_index(drop=True)


def counting_process(frame):
    """OS after second-line treatment in counting-process form, (start, stop] in days.

    Takes the :func:`os_after_second_line` frame. ``hsct`` and ``salvage_remission`` switch
    from 0 to 1 on the day they happen, so a patient counts as untransplanted until the
    transplant (no immortal-time bias). A change on day 0 counts from the start; patients with
    0 days of follow-up are left out (an empty interval, as R's coxph refuses them).
    """
    rows = []
    for pid, time, event, hsct, remission in frame[
        ["patient_id", "time", "event", "hsct_days", "salvage_remission_days"]
    ].itertuples(index=False):
        if time <= 0:
            continue
        cuts = sorted({t for t in (hsct, remission) if pd.notna(t) and 0 < t < time})
        bounds = [0.0, *cuts, float(time)]
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            rows.append(
                (
                    pid,
                    start,
                    stop,
                    int(event and stop == time),
                    int(pd.notna(hsct) and hsct <= start),
                    int(pd.notna(remission) and remission <= start),
                )
            )
    return pd.DataFrame(rows, columns=["patient_id", "start", "stop", "event", "hsct", "salvage_remission"])


def fingerprint(*frames):
    """SHA-256 of the frames' content (values, columns and order): the identity of a run's input."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return digest.hexdigest()
