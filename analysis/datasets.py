"""Registry rows -> tidy pandas frames, one row per patient per endpoint.

A handful of set-based queries (one per table) build a per-patient ``course`` frame; each
endpoint is then derived from it with the population, time origin, event and censoring of
shared/DOMAIN.md. Times are in days (``time``); events are 0/1 (``event``) or, for competing
risks, 0 = censored, 1 = the event of interest, 2 = the competing event (``event_type``).

Censoring when follow-up is missing: a patient without any follow-up contact is censored at
the latest date known for them (their latest recorded event), never dropped silently.
"""

import ctypes
import hashlib
import numbers

import numpy as np
import pandas as pd

from registry.course import factors

from .stats import counting_process_frame

NS_PER_DAY = 86_400 * 10**9


def _column(df, name, rows=None):
    """``df[name]`` as a new array, at the positions ``rows`` (None: every row)."""
    values = df[name].to_numpy()
    return values.copy() if rows is None else values[rows]


def _dates(df, name, rows=None):
    """:func:`_column` of a date column, as datetime64[ns] (NaT where missing)."""
    return _column(df, name, rows).astype("datetime64[ns]", copy=False)


def _days(later, earlier):
    """Whole days from ``earlier`` to ``later`` (datetime64[ns] arrays), NaN where either is missing:
    :func:`registry.course.days_between` on arrays (the days of the difference, rounded down)."""
    days = ((later.view("int64") - earlier.view("int64")) // NS_PER_DAY).astype("float64")
    days[np.isnat(later) | np.isnat(earlier)] = np.nan
    return days


def _endpoint(origin, event_date, end_date):
    """time (days, at least 0) from ``origin`` to ``event_date`` where it is known, else to
    ``end_date`` (censored); and the 0/1 event flag."""
    happened = ~np.isnat(event_date)
    stop = np.where(happened, event_date, end_date)
    return np.maximum(_days(stop, origin), 0.0), happened.astype("int64")


def _endpoint_frame(df, rows, **columns):
    """``patient_id``, ``study_id``, the baseline factors of ``df``'s rows at ``rows`` (None: every
    row) and ``columns`` (new arrays aligned with those rows), as one frame with a fresh index.

    The frame holds the arrays as they are, one block each: pandas' merge of them into blocks
    would copy every column again (object columns twice) for the same frame.
    """
    parts = {
        "patient_id": _column(df, "patient_id", rows),
        "study_id": _column(df, "study_id", rows),
        **{name: values.to_numpy() for name, values in factors(df, rows).items()},
        **columns,
    }
    return pd.DataFrame(parts, copy=False)


def os_after_second_line(df):
    """OS after second-line treatment: recurrent or refractory patients who started salvage.

    Origin: start of the first salvage line after the first relapse or induction failure.
    Event: death from any cause. Censored: at the last contact alive.
    """
    rows = np.flatnonzero(df["recurrence_date"].notna().to_numpy() & df["second_line_date"].notna().to_numpy())
    second_line = _dates(df, "second_line_date", rows)
    hsct = _dates(df, "hsct_after_recurrence_date", rows)
    time, event = _endpoint(second_line, _dates(df, "death_date", rows), _dates(df, "end_date", rows))
    return _endpoint_frame(
        df,
        rows,
        time=time,
        event=event,
        refractory=np.isnat(_dates(df, "relapse1_date", rows)).astype("int64"),
        salvage_remission=_column(df, "salvage_remission", rows),
        hsct=(~np.isnat(hsct)).astype("int64"),
        # Days from the origin to HSCT and to remission (NaN: never), for time-dependent analyses.
        hsct_days=np.maximum(_days(hsct, second_line), 0.0),
        salvage_remission_days=np.maximum(_days(_dates(df, "salvage_remission_date", rows), second_line), 0.0),
    )


def os_from_diagnosis(df):
    """OS from diagnosis: every registered patient; death from any cause; censored at last contact."""
    time, event = _endpoint(_dates(df, "diagnosis_date"), _dates(df, "death_date"), _dates(df, "end_date"))
    return _endpoint_frame(df, None, time=time, event=event)


def efs_from_diagnosis(df):
    """EFS from diagnosis: every registered patient.

    Events: induction failure (at day 0 by convention), relapse, death, second malignancy,
    whichever is first. Censored: at the last contact event-free.
    """
    induction_failure = ~np.isnat(_dates(df, "induction_failure_date"))
    # The earliest known of the three dates (fmin skips a missing date; NaT if all are missing).
    first_event = np.fmin(_dates(df, "relapse1_date"), _dates(df, "death_date"))
    first_event = np.fmin(first_event, _dates(df, "second_malignancy_date"))
    time, event = _endpoint(_dates(df, "diagnosis_date"), first_event, _dates(df, "end_date"))
    return _endpoint_frame(
        df, None, time=np.where(induction_failure, 0.0, time), event=np.where(induction_failure, 1, event)
    )


def _relapse_or_death(df, origin, relapse):
    """The patients with an ``origin`` date: the rows, days from it to the ``relapse`` date or else
    death, or to the last contact (censored), and which of the two happened (a relapse counts first)."""
    rows = np.flatnonzero(df[origin].notna().to_numpy())
    relapse_date = _dates(df, relapse, rows)
    relapsed = ~np.isnat(relapse_date)
    death = _dates(df, "death_date", rows)
    died = ~relapsed & ~np.isnat(death)
    first = np.where(relapsed, relapse_date, death)
    time, _ = _endpoint(_dates(df, origin, rows), first, _dates(df, "end_date", rows))
    return rows, time, relapsed, died


def relapse_incidence(df):
    """Cumulative incidence of relapse: patients in CR1, from the date of CR1.

    event_type 1 = relapse, 2 = death in remission (competing), 0 = censored at last contact.
    """
    rows, time, relapsed, died = _relapse_or_death(df, "cr1_date", "relapse1_date")
    return _endpoint_frame(df, rows, time=time, event_type=np.where(relapsed, 1, np.where(died, 2, 0)))


def non_relapse_mortality_after_hsct(df):
    """Non-relapse mortality after the first HSCT: transplanted patients, from the HSCT date.

    event_type 1 = death without relapse after HSCT, 2 = relapse after HSCT (competing),
    0 = censored at last contact.
    """
    rows, time, relapsed, died = _relapse_or_death(df, "hsct_date", "relapse_after_hsct_date")
    return _endpoint_frame(df, rows, time=time, event_type=np.where(died, 1, np.where(relapsed, 2, 0)))


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


def fingerprint(*frames, digests=None):
    """SHA-256 of the frames' content (columns, dtypes, values and order): the identity of a run's
    input. Equal frames give equal fingerprints, in any process; a changed value changes it.

    Per frame: the row count and each column's name and dtype; then each column's
    :func:`column_digest`. ``digests`` ({column name: digest}, one frame only) holds digests already
    known for that frame's own columns (``analysis.course_table`` keeps them for the course table,
    whose columns an update mostly leaves as they were); the others are computed and added to it.
    """
    if digests is not None and len(frames) != 1:
        raise ValueError("Known column digests belong to one frame")
    digest = hashlib.sha256()
    for frame in frames:
        header = [len(frame), *(f"{name}:{dtype}" for name, dtype in frame.dtypes.items())]
        digest.update(("\x1f".join(map(str, header)) + "\x1e").encode())
        for name, column in frame.items():
            if digests is None:
                digest.update(column_digest(column))
                continue
            if name not in digests:
                digests[name] = column_digest(column)
            digest.update(digests[name])
    return digest.hexdigest()


def column_digest(column):
    """SHA-256 (bytes) of one column's values in order: its pieces, each a tag, a length (bytes)
    and the bytes. Integers: in the narrowest of int8/16/32/64 that holds them all. Floats: every
    NaN alike, -0.0 as 0.0. Dates and flags: their bytes in memory. Text (object) columns: each
    value's code in order of first appearance (``pd.factorize``: None and NaN alike, -1) as integers
    above, then the distinct values in that order in UTF-8 with a NUL between them (each as its kind
    and text if they are not all text or one holds a NUL; a column of mixed kinds is coded by kind
    and text, so True, 1 and "1" differ). A column of texts with none missing whose first
    ``DISTINCT_SAMPLE`` are distinct (study ids): its texts with a NUL between them.
    """
    digest = hashlib.sha256()
    for tag, data in _column_parts(column):
        digest.update(tag + len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


# Text columns whose first values are all distinct (study ids) are hashed as text, not as codes.
DISTINCT_SAMPLE = 1_000


def _column_parts(column):
    """(tag, bytes) pieces of one column, as :func:`column_digest` defines them."""
    values = column.array
    if isinstance(values, pd.arrays.NumpyExtensionArray) or isinstance(values, np.ndarray):
        values = np.asarray(values)
        kind = values.dtype.kind
        if kind == "i":
            return [(b"i", _bytes(_narrowest(values)))]
        if kind == "f":  # one byte pattern per value: -0.0 as 0.0, every NaN alike
            return [(b"f", _bytes(np.where(np.isnan(values), np.nan, values + 0.0)))]
        if kind in "ubMm":
            return [(b"m", _bytes(values))]
        return _text_parts(values)
    if isinstance(values, pd.arrays.DatetimeArray | pd.arrays.TimedeltaArray) and values.tz is None:
        return [(b"m", _bytes(values.asi8))]
    return [(b"h", _bytes(pd.util.hash_pandas_object(column, index=False).to_numpy()))]


def _text_parts(values):
    values = values.astype(object, copy=False)
    sample = values[:DISTINCT_SAMPLE]
    if len(pd.unique(sample)) == len(sample):
        try:  # every value a text, none missing (join takes texts only)
            text = "\x00".join(values)
        except TypeError:
            text = None
        if text is not None and text.count("\x00") == len(values) - 1:  # no text holds a NUL: the NULs part them
            return [(b"t", text.encode("utf-8", "surrogatepass"))]
    codes, distinct, objects = _objects_factorized(values)
    if pd.api.types.infer_dtype(distinct, skipna=False) != "string" and _mixed(objects):
        # Values of several kinds (True and 1, equal to Python, would share a code): coded by kind.
        codes, distinct = pd.factorize(np.array([None if pd.isna(v) else _typed(v) for v in values], dtype=object))
    return [(b"c", _bytes(_narrowest(codes))), (b"u", _distinct_bytes(distinct))]


def _factorize(values):
    """``pd.factorize(values)`` of an object array, the same codes and distinct values, faster."""
    return _objects_factorized(values)[:2]


def _objects_factorized(values):
    """:func:`_factorize` and the distinct objects of ``values`` (by identity, each once: every kind
    of value the column holds, for :func:`_mixed` to read instead of the whole column).

    The course table holds each distinct text once (``course_table.conform``), so a text column's
    values are a few objects repeated: they are coded by address first (integers hash many times
    faster than texts), then the few distinct objects by value, in order of first appearance, as
    ``pd.factorize`` does (equal texts held apart, None and NaN alike: the same codes).
    """
    values = np.ascontiguousarray(values, dtype=object)
    # The objects' addresses, read (and turned back into the objects) while ``values`` holds them.
    addresses = np.ctypeslib.as_array((ctypes.c_size_t * len(values)).from_address(values.ctypes.data))
    by_address, firsts = pd.factorize(addresses)
    del addresses
    if not len(values):
        return (*pd.factorize(values), values)
    # The distinct addresses in order of first appearance: each one's object, once.
    objects = np.fromiter((_object_at(address) for address in firsts), dtype=object, count=len(firsts))
    codes, distinct = pd.factorize(objects)
    return codes[by_address], distinct, objects


def _object_at(address):
    """The Python object at ``address`` (one an array still holds)."""
    return ctypes.cast(int(address), ctypes.py_object).value


def _mixed(values):
    kind = pd.api.types.infer_dtype(values, skipna=True)
    return kind.startswith("mixed") or kind == "unknown-array"


def _distinct_bytes(distinct):
    if pd.api.types.infer_dtype(distinct, skipna=False) == "string":
        text = "\x00".join(distinct)
        if text.count("\x00") == len(distinct) - 1:
            return b"s" + text.encode("utf-8", "surrogatepass")
    return b"r" + "\x00".join(map(_typed, distinct)).encode("utf-8", "surrogatepass")


def _typed(value):
    """A value as text with its kind: True, 1, 1.0 and "1" differ."""
    if isinstance(value, str):
        return f"text:{str(value)!r}"
    if isinstance(value, bool | np.bool_):
        kind = "bool"
    elif isinstance(value, numbers.Integral):
        kind = "int"
    elif isinstance(value, numbers.Real):
        kind = "float"
    else:
        kind = type(value).__qualname__
    return f"{kind}:{value}"


def _narrowest(integers):
    """``integers`` in the narrowest of int8, int16, int32 and int64 that holds them all."""
    if len(integers):
        low, high = integers.min(), integers.max()
        for dtype in (np.int8, np.int16, np.int32):
            if np.iinfo(dtype).min <= low and high <= np.iinfo(dtype).max:
                return integers.astype(dtype)
    return integers


def _bytes(values):
    return memoryview(np.ascontiguousarray(values)).cast("B")
