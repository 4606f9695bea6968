"""A patient's course facts, derived once: registry rows -> one frame, one row per patient.

The one home of the clinical derivations every reader shares: recurrent or refractory, the
first relapse and the duration of first remission, second-line therapy and remission after
salvage, transplants and their disease status, death, last contact, second malignancy, and the
factor cut-offs of the paper (age < 90 days, CNS3, WBC >= 100 and >= 300 x10^9/L). The
analyses (``analysis.datasets``), the dashboard, the list filters (the SQL predicates below)
and the de-identified export all read them from here.

Dates stay dates in this frame; intervals are in days unless a column says months.
"""

import itertools

import numpy as np
import pandas as pd
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q

from .choices import FirstLineOutcome
from .models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant

DAYS_PER_MONTH = 365.25 / 12
FIRST_REMISSION_CUTOFF_MONTHS = 6
# The paper's factor cut-offs (docs/domain.md): columns of the course frame, 0/1.
AGE_UNDER_3_MONTHS_DAYS = 90
WBC_HIGH = 100  # x10^9/L
WBC_VERY_HIGH = 300
CUTOFF_FACTORS = ("age_under_3_months", "cns_involvement", "wbc_100_or_more", "wbc_300_or_more")


def _dates_of(values):
    return values if pd.api.types.is_datetime64_any_dtype(values) else pd.to_datetime(values)


def days_between(later, earlier):
    """Whole days from ``earlier`` to ``later`` (NaN where either is missing)."""
    return (_dates_of(later) - _dates_of(earlier)).dt.days.astype("float64")


# The registry rows the course facts are derived from: each record's case-report fields
# (Model.entry_fields) without free text, which stays out of the facts and the de-identified set.
FREE_TEXT = ("regimen", "agents")


def _columns(model):
    # Coded fields (a salvage line's regimen_code) join the case-report fields: the facts use the code.
    return tuple(name for name in model.entry_fields if name not in FREE_TEXT) + getattr(model, "coded_fields", ())


def _dates(model, columns):
    return tuple(name for name in columns if isinstance(model._meta.get_field(name), models.DateField))


def _field(model, path):
    """The model field a ``values_list`` path names (``center__code``: the center's code)."""
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.get_field("id" if name == "pk" else name)


def _kind(field):
    """How a column is typed in the tables: ``int`` (ids), ``date``, ``number`` (WBC), ``flag``
    (yes/no) or ``text`` (codes); and whether it may be empty."""
    if isinstance(field, models.DateField):
        kind = "date"
    elif isinstance(field, models.DecimalField | models.FloatField):
        kind = "number"
    elif isinstance(field, models.BooleanField):
        kind = "flag"
    elif isinstance(field, models.ForeignKey):  # the value is the target's: an id, or a code
        kind = _kind(field.target_field)[0]
    elif isinstance(field, models.AutoField | models.BigAutoField | models.IntegerField):
        kind = "int"
    else:
        kind = "text"
    return kind, field.null


PATIENT_COLUMNS = ("pk", "center__code", *("trial__code" if name == "trial" else name for name in _columns(Patient)))
# {table: (model, columns, date columns)}
EVENT_SOURCES = {
    table: (model, _columns(model), _dates(model, _columns(model)))
    for table, model in (
        ("first_line_responses", FirstLineResponse),
        ("relapses", Relapse),
        ("salvage_lines", SalvageLine),
        ("transplants", Transplant),
        ("follow_ups", FollowUp),
    )
}
# {table: {column: (kind, nullable)}}: the one typing of every column, whichever way its rows are read.
KINDS = {
    "patients": {column: _kind(_field(Patient, column)) for column in PATIENT_COLUMNS},
    **{
        table: {column: _kind(_field(model, column)) for column in ("patient_id", *columns)}
        for table, (model, columns, _dates) in EVENT_SOURCES.items()
    },
}
# The date each event table is numbered by (1 = earliest; ties in the order of entry).
EVENT_ORDER = {
    "first_line_responses": "assessment_date",
    "relapses": "relapse_date",
    "salvage_lines": "start_date",
    "transplants": "transplant_date",
    "follow_ups": "contact_date",
}
PATIENT_RENAMES = {"pk": "patient_id", "center__code": "center", "trial__code": "trial"}


def _querysets(patients=None):
    """{table: (columns, values_list queryset)} of the rows of ``patients`` (default: all), each
    ordered by primary key; the event tables through a ``patient__in`` sub-query."""
    patients = Patient.objects.all() if patients is None else patients
    out = {"patients": (PATIENT_COLUMNS, patients.order_by("pk").values_list(*PATIENT_COLUMNS))}
    # Every patient (no filter, no slice): every event row belongs to one, so no sub-query to join.
    everyone = not patients.query.where and not patients.query.is_sliced
    scope = {} if everyone else {"patient__in": patients.values("pk")}
    for name, (model, columns, _dates) in EVENT_SOURCES.items():
        columns = ("patient_id", *columns)
        out[name] = (columns, model.objects.filter(**scope).order_by("pk").values_list(*columns))
    return out


def read_rows(patients=None):
    """The registry rows of ``patients`` (default: all) as the database returns them:
    {"patients": (columns, rows), event table: (columns, rows)}, each ordered by primary key.

    One query per table (the event tables through a ``patient__in`` sub-query, so the cost does
    not grow with the cohort's size). A data cut keeps exactly these rows (``registry.cuts``);
    the analyses read the same rows as columns (:func:`read_tables`).
    """
    return {name: (columns, list(queryset)) for name, (columns, queryset) in _querysets(patients).items()}


def _typed(frame, kinds):
    """The frame with each column in its kind's one dtype: ids int64, dates datetime64, numbers
    float64, flags bool, text Python strings (None where empty), however the values arrived
    (Python objects from the database, ISO strings and numbers from a data cut's copy)."""
    for column, (kind, nullable) in kinds.items():
        if column not in frame:  # a data cut taken before the column existed
            continue
        values = frame[column]
        if kind == "int":
            frame[column] = values.astype("int64")
        elif kind == "number":
            frame[column] = values.astype("float64")
        elif kind == "date":
            frame[column] = pd.to_datetime(values)
        elif kind == "flag" and not nullable:
            frame[column] = values.astype(bool)
        elif nullable:
            frame[column] = values.astype(object).where(values.notna(), None)
    return frame


def _finish(tables):
    tables["patients"] = tables["patients"].rename(columns=PATIENT_RENAMES)
    return tables


def tables_from_rows(rows):
    """{table: frame} from :func:`read_rows`' rows (or a data cut's copy of them), typed by
    :data:`KINDS`: the frames :func:`read_tables` reads from the database, value for value and
    dtype for dtype, so a run at a data cut reads what a live run read at the moment of the cut."""
    tables = {}
    for name, kinds in KINDS.items():
        columns, values = rows[name]
        tables[name] = _typed(pd.DataFrame(values, columns=list(columns)), kinds)
    return _finish(tables)


# Rows converted to columns per chunk: the Python tuples of one chunk at a time, never of a table.
CHUNK_ROWS = 50_000


def _chunked_frame(columns, queryset, kinds):
    """The rows of ``queryset`` as one typed frame, read through a server-side cursor (PostgreSQL)
    ``CHUNK_ROWS`` at a time, each chunk typed as it arrives."""
    rows = queryset.iterator(chunk_size=CHUNK_ROWS)
    parts = []
    while chunk := list(itertools.islice(rows, CHUNK_ROWS)):
        parts.append(_typed(pd.DataFrame(chunk, columns=list(columns)), kinds))
    if not parts:
        return _typed(pd.DataFrame([], columns=list(columns)), kinds)
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def read_tables(patients=None, *, stream=True):
    """The registry rows of ``patients`` (default: all): {"patients": frame, event table: frame}.

    One query per table, streamed in chunks (a server-side cursor on PostgreSQL), so memory holds
    the frames and one chunk of rows, not a Python tuple for every row; typed by :data:`KINDS`,
    equal to :func:`tables_from_rows` of the same rows. ``course_frame`` and ``event_tables``
    both derive from these frames, so a caller that needs both reads once. ``stream=False`` (a few
    patients' rows) fetches each table at once: a cursor's round trips would cost more than its rows.
    """
    if not stream:
        return tables_from_rows(read_rows(patients))
    # In a transaction: PostgreSQL's cursors then stream (outside one, a cursor WITH HOLD is
    # materialised whole on the server first).
    with transaction.atomic(savepoint=False):
        return _finish(
            {
                name: _chunked_frame(columns, queryset, KINDS[name])
                for name, (columns, queryset) in _querysets(patients).items()
            }
        )


def _joined(texts, keys):
    """Series of ``texts`` joined with spaces per run of equal ``keys`` (sorted), indexed by key:
    groupby(keys).agg(" ".join) without a Python call per group."""
    if texts.empty:
        return pd.Series([], dtype=object, index=pd.Index([], dtype=keys.dtype, name=keys.name))
    name, keys = keys.name, keys.to_numpy()
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    joined = np.add.reduceat((texts + " ").to_numpy(dtype=object), starts)
    return pd.Series([text[:-1] for text in joined], index=pd.Index(keys[starts], name=name))


def _join(df, extra):
    """``df`` with the columns of ``extra`` (indexed by patient_id) added: a left merge on
    patient_id, without copying ``df``'s other columns each time."""
    aligned = extra.reindex(df["patient_id"].to_numpy())
    for column in extra.columns:
        df[column] = aligned[column].to_numpy()
    return df


def _first_per_patient(events, date_column):
    """Each patient's earliest row of ``events`` by ``date_column`` (ties: the first entered),
    indexed by patient_id. (Their columns are never empty, so this is ``groupby().first()``
    without its per-column search for a value.)"""
    earliest = events.sort_values(date_column, kind="stable").drop_duplicates("patient_id", keep="first")
    return earliest.set_index("patient_id")


def course_frame(patients=None, *, tables=None):
    """One row per patient with the dates and facts every endpoint needs.

    ``patients`` is a Patient queryset (default: all patients), read with :func:`read_tables`
    (one query per table whatever the cohort size); or pass ``tables`` already read.
    """
    tables = read_tables(patients) if tables is None else tables
    relapses = tables["relapses"]
    salvage = tables["salvage_lines"]
    transplants = tables["transplants"]
    follow_ups = tables["follow_ups"]

    first_line = tables["first_line_responses"]
    df = tables["patients"].merge(first_line, on="patient_id", how="left")
    df["age_days"] = days_between(df["diagnosis_date"], df["date_of_birth"])
    df["cr1_date"] = df["assessment_date"].where(df["outcome"] == "CR")
    df["induction_failure_date"] = df["assessment_date"].where(df["outcome"] == "INDUCTION_FAILURE")

    first_relapse = _first_per_patient(relapses, "relapse_date")
    df = _join(
        df,
        first_relapse.rename(columns={"relapse_date": "relapse1_date", "site": "relapse1_site"}),
    )
    df["recurrence_date"] = df["relapse1_date"].fillna(df["induction_failure_date"])

    # Second-line therapy starts with the first salvage line on or after the first recurrence;
    # remission after salvage counts only those lines (the paper's "after salvage").
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
    # Those lines by regimen, in date order: "CODE:RESPONSE ..." (no code before ":" until the line is
    # coded; a data cut taken before regimen codes has none). Read by the analysis by regimen.
    lines = salvage.sort_values(["patient_id", "start_date"], kind="stable")
    codes = lines["regimen_code"].fillna("") if "regimen_code" in lines else pd.Series("", index=lines.index)
    second_line["salvage_lines_coded"] = _joined(codes.astype(str) + ":" + lines["response"], lines["patient_id"])
    df = _join(df, second_line)
    df["salvage_remission"] = df["salvage_remission_date"].notna().astype(int)

    first_hsct = _first_per_patient(transplants, "transplant_date")
    df = _join(
        df,
        first_hsct[["transplant_date", "disease_status"]].rename(
            columns={"transplant_date": "hsct_date", "disease_status": "hsct_status"}
        ),
    )
    # The first relapse after the first HSCT (the competing event of non-relapse mortality).
    later = relapses.merge(df[["patient_id", "hsct_date"]], on="patient_id")
    later = later[later["relapse_date"] > later["hsct_date"]].groupby("patient_id")["relapse_date"].min()
    df["relapse_after_hsct_date"] = df["patient_id"].map(later)
    # HSCT after recurrence: the first transplant on or after the first relapse or induction failure.
    after = transplants.merge(df[["patient_id", "recurrence_date"]], on="patient_id")
    post = _first_per_patient(after[after["transplant_date"] >= after["recurrence_date"]], "transplant_date")
    df = _join(
        df,
        post.rename(
            columns={"transplant_date": "hsct_after_recurrence_date", "disease_status": "hsct_after_recurrence_status"}
        )[["hsct_after_recurrence_date", "hsct_after_recurrence_status"]],
    )

    fu = follow_ups.groupby("patient_id").agg(
        last_contact_date=("contact_date", "max"),
        death_date=("death_date", "min"),
        second_malignancy_date=("second_malignancy_date", "min"),
    )
    causes = follow_ups.dropna(subset=["death_date"]).set_index("patient_id")["cause_of_death"]
    latest = follow_ups.sort_values("contact_date", kind="stable").drop_duplicates("patient_id", keep="last")
    latest = latest.set_index("patient_id")
    df = _join(df, fu)
    df["cause_of_death"] = df["patient_id"].map(causes)
    df["last_vital_status"] = df["patient_id"].map(latest["vital_status"])
    df["lost_to_follow_up"] = df["patient_id"].map(latest["lost_to_follow_up"]).eq(True).astype(int)
    known = df[["diagnosis_date", "assessment_date", "relapse1_date", "second_line_date", "hsct_date", "death_date"]]
    df["last_known_date"] = df["last_contact_date"].fillna(known.max(axis=1))
    df["dead"] = df["death_date"].notna().astype(int)
    # The end of observation: death, or the last date the patient was known alive.
    df["end_date"] = df["death_date"].fillna(df["last_known_date"])

    df["first_remission_months"] = days_between(df["relapse1_date"], df["cr1_date"]) / DAYS_PER_MONTH
    df["recurrent_or_refractory"] = df["recurrence_date"].notna().astype(int)
    df["age_under_3_months"] = (df["age_days"] < AGE_UNDER_3_MONTHS_DAYS).astype(int)
    df["cns_involvement"] = (df["cns_status"] == "CNS3").astype(int)
    df["wbc_100_or_more"] = (df["wbc"] >= WBC_HIGH).astype(int)
    df["wbc_300_or_more"] = (df["wbc"] >= WBC_VERY_HIGH).astype(int)
    for name, values in derived_factors(df).items():
        df[name] = values
    return df


def event_tables(patients=None, *, tables=None, course=None):
    """Every recorded event of ``patients``, one frame per event type, dates as dates.

    {"first_line_responses", "relapses", "salvage_lines", "transplants", "follow_ups"}: each
    frame keeps ``patient_id`` and the registry columns, sorted by patient and date, with a
    1-based ``number`` per patient in date order. Salvage lines and transplants carry
    ``after_recurrence`` (1 if on or after the patient's first relapse or induction failure,
    the rule :func:`course_frame` uses for second-line therapy, remission after salvage and
    HSCT after recurrence). Reads :func:`read_tables` once unless ``tables`` is given.
    """
    tables = read_tables(patients) if tables is None else tables
    course = course_frame(tables=tables) if course is None else course
    recurrence = course.set_index("patient_id")["recurrence_date"]
    out = {}
    for name, date_column in EVENT_ORDER.items():
        frame = tables[name].sort_values(["patient_id", date_column], kind="stable").reset_index(drop=True)
        frame.insert(1, "number", frame.groupby("patient_id").cumcount() + 1)
        if name in ("salvage_lines", "transplants"):
            frame["after_recurrence"] = (frame[date_column] >= frame["patient_id"].map(recurrence)).astype(int)
        out[name] = frame
    return out


# The paper's univariate factors, as columns of the course frame: flags (the cut-offs) and labels.
FACTOR_COLUMNS = (
    *CUTOFF_FACTORS,
    "mll_partner",
    "partner_af4",
    "first_remission",
    "relapse_site",
    "trial",
    "center",
)
FIRST_REMISSION_GROUPS = (
    "induction failure",
    f"CR1 < {FIRST_REMISSION_CUTOFF_MONTHS} months",
    f"CR1 >= {FIRST_REMISSION_CUTOFF_MONTHS} months",
)
RELAPSE_SITE_GROUPS = ("induction failure", "isolated marrow", "extramedullary involved")


def derived_factors(df):
    """The factors a course derives from its other columns: ``partner_af4`` (0/1), ``first_remission``
    (no CR1: induction failure; CR1 lasting < 6 months, or >= 6 months or without relapse) and
    ``relapse_site`` (no relapse: induction failure; BM: isolated marrow; any other: extramedullary
    involved), as arrays aligned with ``df``'s rows. Each label column is a take from its three
    labels (no text built per patient)."""
    short = df["first_remission_months"].to_numpy() < FIRST_REMISSION_CUTOFF_MONTHS
    marrow = df["relapse1_site"].to_numpy() == "BM"
    no_cr1, no_relapse = df["cr1_date"].isna().to_numpy(), df["relapse1_date"].isna().to_numpy()
    return {
        "partner_af4": (df["mll_partner"].to_numpy() == "AF4").astype(int),
        "first_remission": np.array(FIRST_REMISSION_GROUPS, dtype=object)[np.where(no_cr1, 0, np.where(short, 1, 2))],
        "relapse_site": np.array(RELAPSE_SITE_GROUPS, dtype=object)[np.where(no_relapse, 0, np.where(marrow, 1, 2))],
    }


def factors(df, rows=None):
    """Baseline factors of the paper's univariate analysis (:data:`FACTOR_COLUMNS` of the course
    frame ``df``): of every row, or of the rows at the positions ``rows`` (a frame with a fresh
    index). Every column is the new frame's own array."""
    if rows is None:
        columns = {name: df[name].to_numpy().copy() for name in FACTOR_COLUMNS}
    else:
        columns = {name: df[name].to_numpy()[rows] for name in FACTOR_COLUMNS}
    # Taken as they are (pandas' merge of them into blocks would copy each again).
    return pd.DataFrame(columns, index=df.index if rows is None else None, copy=False)


# Disease status at a transplant after recurrence, as the paper groups it.
HSCT_STATUS_GROUPS = {"CR1": "in_remission", "CR2+": "in_remission", "NOT_CR": "not_in_remission", "UNKNOWN": "unknown"}


def counts(df):
    """The paper's counts from a course frame: who relapsed or failed induction, who was
    evaluable for and reached remission after salvage, who was transplanted after recurrence
    (by disease status), who died. Plain integers; the analyses add the statistics."""
    rr = df[df["recurrent_or_refractory"].eq(1)]
    evaluable = rr[rr["salvage_evaluable"].eq(True)]
    status = rr.loc[rr["hsct_after_recurrence_date"].notna(), "hsct_after_recurrence_status"].map(HSCT_STATUS_GROUPS)
    return {
        "n_registered": int(len(df)),
        "n_relapsed": int(df["relapse1_date"].notna().sum()),
        "n_induction_failure": int(df["induction_failure_date"].notna().sum()),
        "n_recurrent_or_refractory": int(len(rr)),
        "n_with_second_line": int(rr["second_line_date"].notna().sum()),
        "n_salvage_evaluable": int(len(evaluable)),
        "n_salvage_remission": int(evaluable["salvage_remission"].sum()),
        "n_hsct_after_recurrence": int(len(status)),
        "n_hsct_in_remission": int((status == "in_remission").sum()),
        "n_hsct_not_in_remission": int((status == "not_in_remission").sum()),
        "n_hsct_unknown": int((status == "unknown").sum()),
        "n_dead": int(df["dead"].sum()),
    }


# --- The same facts as SQL predicates on Patient, for list filters and dashboard counts ------
# (tests/test_course.py checks that they agree with the frame above.)


def relapsed_q():
    """Patients with at least one relapse."""
    return Q(Exists(Relapse.objects.filter(patient=OuterRef("pk"))))


def refractory_q():
    """Induction failures: no CR after first-line induction."""
    return Q(first_line_response__outcome=FirstLineOutcome.INDUCTION_FAILURE)


def recurrent_or_refractory_q():
    """The paper's population: relapsed after CR1, or induction failure."""
    return relapsed_q() | refractory_q()
