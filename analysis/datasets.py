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

from registry.course import days_between, factors

from .stats import counting_process_frame


def _endpoint(df, origin, event_date, *, event=None):
    """time (days) from ``origin`` to the event or censoring, and the 0/1 event flag."""
    happened = event_date.notna() if event is None else event
    stop = event_date.where(happened, df["end_date"])
    stop = stop.where(~happened, event_date)
    time = days_between(stop, origin).clip(lower=0)
    return time, happened.astype(int)


def _endpoint_frame(pop, **columns):
    """``patient_id``, ``study_id``, the baseline factors and ``columns`` (aligned with ``pop``'s
    rows), as one frame with a fresh index: built in one go, not column by column."""
    parts = {"patient_id": pop["patient_id"], "study_id": pop["study_id"], **factors(pop), **columns}
    return pd.DataFrame({name: np.asarray(values) for name, values in parts.items()})


def os_after_second_line(df):
    """OS after second-line treatment: recurrent or refractory patients who started salvage.

    Origin: start of the first salvage line after the first relapse or induction failure.
    Event: death from any cause. Censored: at the last contact alive.
    """
    pop = df[df["recurrence_date"].notna() & df["second_line_date"].notna()]
    time, event = _endpoint(pop, pop["second_line_date"], pop["death_date"])
    return _endpoint_frame(
        pop,
        time=time,
        event=event,
        refractory=pop["relapse1_date"].isna().astype(int),
        salvage_remission=pop["salvage_remission"],
        hsct=pop["hsct_after_recurrence_date"].notna().astype(int),
        # Days from the origin to HSCT and to remission (NaN: never), for time-dependent analyses.
        hsct_days=days_between(pop["hsct_after_recurrence_date"], pop["second_line_date"]).clip(lower=0),
        salvage_remission_days=days_between(pop["salvage_remission_date"], pop["second_line_date"]).clip(lower=0),
    )


def os_from_diagnosis(df):
    """OS from diagnosis: every registered patient; death from any cause; censored at last contact."""
    time, event = _endpoint(df, df["diagnosis_date"], df["death_date"])
    return _endpoint_frame(df, time=time, event=event)


def efs_from_diagnosis(df):
    """EFS from diagnosis: every registered patient.

    Events: induction failure (at day 0 by convention), relapse, death, second malignancy,
    whichever is first. Censored: at the last contact event-free.
    """
    induction_failure = df["induction_failure_date"].notna()
    first_event = pd.concat([df["relapse1_date"], df["death_date"], df["second_malignancy_date"]], axis=1).min(axis=1)
    time, event = _endpoint(df, df["diagnosis_date"], first_event)
    return _endpoint_frame(df, time=time.where(~induction_failure, 0.0), event=event.where(~induction_failure, 1))


def relapse_incidence(df):
    """Cumulative incidence of relapse: patients in CR1, from the date of CR1.

    event_type 1 = relapse, 2 = death in remission (competing), 0 = censored at last contact.
    """
    pop = df[df["cr1_date"].notna()]
    relapse = pop["relapse1_date"]
    death_in_cr = pop["death_date"].where(relapse.isna())
    first = relapse.fillna(death_in_cr)
    time, event = _endpoint(pop, pop["cr1_date"], first)
    return _endpoint_frame(
        pop, time=time, event_type=np.select([relapse.notna(), death_in_cr.notna()], [1, 2], default=0)
    )


def non_relapse_mortality_after_hsct(df):
    """Non-relapse mortality after the first HSCT: transplanted patients, from the HSCT date.

    event_type 1 = death without relapse after HSCT, 2 = relapse after HSCT (competing),
    0 = censored at last contact.
    """
    pop = df[df["hsct_date"].notna()]
    relapse_after = pop["relapse_after_hsct_date"]
    death_without = pop["death_date"].where(relapse_after.isna())
    time, _ = _endpoint(pop, pop["hsct_date"], relapse_after.fillna(death_without))
    return _endpoint_frame(
        pop, time=time, event_type=np.select([death_without.notna(), relapse_after.notna()], [1, 2], default=0)
    )


def counting_process(frame):
    """OS after second-line treatment in counting-process form, (start, stop] in days.

    Takes the :func:`os_after_second_line` frame. ``hsct`` and ``salvage_remission`` switch
    from 0 to 1 on the day they happen, so a patient counts as untransplanted until the
    transplant (no immortal-time bias). A change on day 0 counts from the start; patients with
    0 days of follow-up are left out (an empty interval, as R's coxph refuses them). The split
    is :func:`analysis.stats.counting_process_frame`, the one checked against R.
    """
    return counting_process_frame(
        frame,
        id_col="patient_id",
        duration_col="time",
        event_col="event",
        changes={"hsct": "hsct_days", "salvage_remission": "salvage_remission_days"},
    )


def fingerprint(*frames):
    """SHA-256 of the frames' content (columns, dtypes, values and order): the identity of a run's
    input. Equal frames give equal fingerprints, in any process.

    Numeric, date and flag columns are hashed as their bytes in memory (no copy into text); text
    columns as pandas' fixed-key hash of each value (``hash_array``), as 8 bytes a value.
    """
    digest = hashlib.sha256()
    for frame in frames:
        header = [len(frame), *(f"{name}:{dtype}" for name, dtype in frame.dtypes.items())]
        digest.update(("\x1f".join(map(str, header)) + "\x1e").encode())
        for _name, column in frame.items():
            digest.update(_column_bytes(column))
    return digest.hexdigest()


def _column_bytes(column):
    values = column.array
    if isinstance(values, pd.arrays.NumpyExtensionArray) or isinstance(values, np.ndarray):
        values = np.asarray(values)
        kind = values.dtype.kind
        if kind == "f":  # one byte pattern per value: -0.0 as 0.0, every NaN alike
            values = np.where(np.isnan(values), np.nan, values + 0.0)
        if kind in "iubfMm":
            return memoryview(np.ascontiguousarray(values)).cast("B")
        return memoryview(pd.util.hash_array(np.asarray(values, dtype=object), categorize=True)).cast("B")
    if isinstance(values, pd.arrays.DatetimeArray | pd.arrays.TimedeltaArray) and values.tz is None:
        return memoryview(np.ascontiguousarray(values.asi8)).cast("B")
    return memoryview(pd.util.hash_pandas_object(column, index=False).to_numpy()).cast("B")
