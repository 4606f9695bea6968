"""The de-identified analysis data set: the course facts of ``registry.course``, without dates or IDs.

``analysis_tables(patients)`` gives one frame per table of ``ANALYSIS_TABLES``: ``patients`` (one
row per patient, read from ``course_frame``: the same facts the stored analyses read) and one
table per event type (every relapse, salvage line, transplant, follow-up contact and first-line
response, read from ``event_tables``), keyed by pseudonym. Dates become whole days from the
patient's date of diagnosis; study IDs become pseudonyms; salvage lines carry their regimen code;
free text (regimens, agents as entered) is left out. docs/analysis-data-set.md shows how to
rebuild each stored analysis from these tables.
"""

import hashlib
import hmac

import numpy as np
import pandas as pd
from django.conf import settings

from ... import course
from ..analysis_variables import ANALYSIS_TABLES, BOOLEAN, CODE, DECIMAL, INTEGER
from . import writers

TITLE = "MLL96/MLL98 de-identified analysis data set"
ZIPPED_FORMATS = ("xpt", "xpt5", "dta", "sav")  # one file per table, in a ZIP archive
XPT_NAMES = {
    "patients": "PATIENTS",
    "first_line_responses": "FIRSTLIN",
    "relapses": "RELAPSES",
    "salvage_lines": "SALVAGE",
    "transplants": "HSCT",
    "follow_ups": "FOLLOWUP",
}

# Patients table: variable -> course frame column (a date column becomes days from diagnosis).
PATIENT_SOURCES = {
    "trial": "trial",
    "center": "center",
    "sex": "sex",
    "age_at_diagnosis_days": "age_days",
    "registration_days": "registration_date",
    "wbc": "wbc",
    "cns_status": "cns_status",
    "immunophenotype": "immunophenotype",
    "prednisone_response": "prednisone_response",
    "mll_partner": "mll_partner",
    "mll_detection_method": "mll_detection_method",
    "first_line_outcome": "outcome",
    "first_line_days": "assessment_date",
    "cr1_days": "cr1_date",
    "induction_failure_days": "induction_failure_date",
    "relapse1_days": "relapse1_date",
    "relapse1_site": "relapse1_site",
    "recurrent_or_refractory": "recurrent_or_refractory",
    "recurrence_days": "recurrence_date",
    "second_line_days": "second_line_date",
    "salvage_evaluable": "salvage_evaluable",
    "salvage_remission": "salvage_remission",
    "salvage_remission_days": "salvage_remission_date",
    "hsct1_days": "hsct_date",
    "hsct1_status": "hsct_status",
    "hsct_after_recurrence_days": "hsct_after_recurrence_date",
    "hsct_after_recurrence_status": "hsct_after_recurrence_status",
    "relapse_after_hsct_days": "relapse_after_hsct_date",
    "dead": "dead",
    "death_days": "death_date",
    "cause_of_death": "cause_of_death",
    "last_contact_days": "last_known_date",
    "end_days": "end_date",
    "lost_to_follow_up": "lost_to_follow_up",
    "second_malignancy_days": "second_malignancy_date",
    "age_under_3_months": "age_under_3_months",
    "cns_involvement": "cns_involvement",
    "wbc_100_or_more": "wbc_100_or_more",
    "wbc_300_or_more": "wbc_300_or_more",
}
# Event tables: variable -> event_tables column.
EVENT_SOURCES = {
    "first_line_responses": {"outcome": "outcome", "assessment_days": "assessment_date"},
    "relapses": {"relapse_number": "number", "relapse_days": "relapse_date", "site": "site"},
    "salvage_lines": {
        "line_number": "number",
        "regimen_code": "regimen_code",
        "start_days": "start_date",
        "response": "response",
        "response_days": "response_date",
        "after_recurrence": "after_recurrence",
    },
    "transplants": {
        "transplant_number": "number",
        "transplant_days": "transplant_date",
        "transplant_type": "transplant_type",
        "donor": "donor",
        "stem_cell_source": "stem_cell_source",
        "conditioning": "conditioning",
        "conditioning_intensity": "conditioning_intensity",
        "disease_status": "disease_status",
        "after_recurrence": "after_recurrence",
    },
    "follow_ups": {
        "contact_number": "number",
        "contact_days": "contact_date",
        "vital_status": "vital_status",
        "death_days": "death_date",
        "cause_of_death": "cause_of_death",
        "lost_to_follow_up": "lost_to_follow_up",
        "second_malignancy_days": "second_malignancy_date",
    },
}


def pseudonym(study_id):
    """A stable pseudonym: HMAC-SHA256 of the study ID keyed with EXPORT_PSEUDONYM_KEY (else SECRET_KEY)."""
    key = getattr(settings, "EXPORT_PSEUDONYM_KEY", "") or settings.SECRET_KEY
    digest = hmac.new(key.encode(), study_id.encode(), hashlib.sha256).hexdigest()
    return "P" + digest[:16].upper()


def _typed(values, variable):
    """A column in the type of its variable: Int64 days, counts and 0/1; float decimals; text."""
    if variable.kind in (INTEGER, BOOLEAN):
        return pd.Series(values, dtype="object").astype("float64").round().astype("Int64")
    if variable.kind == DECIMAL:
        return pd.Series(values, dtype="float64")
    return pd.Series(values, dtype="object").map(lambda x: "" if pd.isna(x) else str(x))


def _table(table, columns, sort):
    frame = pd.DataFrame(
        {v.name: _typed(columns[v.name], v).reset_index(drop=True) for v in table.variables},
        columns=[v.name for v in table.variables],
    )
    return frame.sort_values(sort, kind="stable", ignore_index=True)


def _values(values, diagnosis):
    """A date column as whole days from diagnosis; any other column as it is."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return course.days_between(values, diagnosis).to_numpy()
    return values.to_numpy()


def analysis_tables(patients=None, *, tables=None):
    """{table name: DataFrame} of the de-identified data set for ``patients`` (a scoped queryset),
    or of course ``tables`` already read (a data cut's, ``registry.cuts.snapshot.tables``).

    One query per registry table. Every interval is whole days from the date of diagnosis.
    """
    tables = course.read_tables(patients) if tables is None else tables
    frame = course.course_frame(tables=tables)
    events = course.event_tables(tables=tables, course=frame)
    names = frame.set_index("patient_id")["study_id"].map(pseudonym)
    diagnosis = frame.set_index("patient_id")["diagnosis_date"]

    columns = {"pseudonym": frame["patient_id"].map(names).to_numpy()}
    for name, source in PATIENT_SOURCES.items():
        columns[name] = _values(frame[source], frame["diagnosis_date"])
    columns["salvage_evaluable"] = frame["salvage_evaluable"].map({True: 1, False: 0}).to_numpy()
    columns["hsct_after_recurrence"] = frame["hsct_after_recurrence_date"].notna().astype(int).to_numpy()
    columns["vital_status"] = np.where(frame["dead"] == 1, "DEAD", frame["last_vital_status"].fillna(""))
    for event in ("relapses", "salvage_lines", "transplants"):
        counts = events[event].groupby("patient_id").size()
        name = {"relapses": "n_relapses", "salvage_lines": "n_salvage_lines", "transplants": "n_transplants"}[event]
        columns[name] = frame["patient_id"].map(counts).fillna(0).to_numpy()
    first_remission = frame["relapse1_date"] - frame["cr1_date"]
    columns["first_remission_days"] = first_remission.dt.days.to_numpy(dtype="float64", na_value=np.nan)
    factor_frame = course.factors(frame)
    columns["partner_af4"] = factor_frame["partner_af4"].to_numpy()
    columns["first_remission_group"] = factor_frame["first_remission"].to_numpy()
    columns["relapse_site_group"] = factor_frame["relapse_site"].to_numpy()

    by_name = {t.name: t for t in ANALYSIS_TABLES}
    out = {"patients": _table(by_name["patients"], columns, ["pseudonym"])}
    for name, sources in EVENT_SOURCES.items():
        rows = events[name]
        dx = rows["patient_id"].map(diagnosis)
        columns = {"pseudonym": rows["patient_id"].map(names).to_numpy()}
        for variable, source in sources.items():
            # A data cut taken before regimen codes has no code column: its lines are not coded.
            values = rows[source] if source in rows else pd.Series("", index=rows.index)
            columns[variable] = _values(values, dx)
        sort = ["pseudonym", next(iter(sources))] if name != "first_line_responses" else ["pseudonym"]
        out[name] = _table(by_name[name], columns, sort)
    return out


def records(frame):
    """(header, rows) of Python values (None where missing), for the CSV and XLSX writers."""
    rows = frame.astype(object).where(frame.notna(), None).values.tolist()
    return list(frame.columns), rows


def _statistical_frame(table, frame, fmt):
    """pyreadstat wants float64 numbers (NaN missing); Stata and SPSS get numeric codes."""
    out = {}
    for v in table.variables:
        column = frame[v.name]
        if v.kind == CODE and fmt in ("dta", "sav"):
            codes = v.numeric_codes()
            out[v.name] = column.map(lambda x, codes=codes: codes.get(x, np.nan)).astype("float64")
        elif v.kind in (INTEGER, BOOLEAN, DECIMAL):
            out[v.name] = column.astype("float64")
        else:
            out[v.name] = column.astype(object)
    return pd.DataFrame(out, columns=[v.name for v in table.variables])


def statistical_file(table, frame, fmt):
    value_labels = {
        v.name: {float(i): label[:80] for i, (_, label) in enumerate(v.value_labels(), start=1)}
        for v in table.variables
        if v.kind == CODE
    }
    data = _statistical_frame(table, frame, fmt)
    labels = {v.name: v.label for v in table.variables}
    if fmt == "xpt5":  # 8-character names; the long name becomes the label
        short = sas_names([v.name for v in table.variables])
        data = data.rename(columns=short)
        labels = {short[v.name]: v.name for v in table.variables}
    return writers.write_statistical(
        fmt,
        data,
        title=f"{TITLE}: {table.name}",
        table_name=XPT_NAMES[table.name],
        column_labels=labels,
        value_labels=value_labels if fmt in ("dta", "sav") else None,
    )


def sas_names(names):
    """{long name: unique SAS version 5 name}: at most 8 characters, upper case, letters, digits, _."""
    out, taken = {}, set()
    for name in names:
        base = "".join(c if c.isalnum() else "_" for c in name.upper())
        base = base if base[:1].isalpha() or base[:1] == "_" else "_" + base
        candidate, n = base[:8], 1
        while candidate in taken:
            suffix = str(n)
            candidate, n = base[: 8 - len(suffix)] + suffix, n + 1
        out[name] = candidate
        taken.add(candidate)
    return out


def sas_formats_program():
    """A SAS program beside the version 5 transport files: PROC FORMAT with the value labels of
    every coded variable, and per table the labels and formats to apply after reading it."""
    lines = [f"/* {TITLE}: value labels (formats) and variable labels for the version 5 XPT files. */"]
    lines += ["/* Run it in the folder of the .xpt files (one SAS transport library per table). */", "proc format;"]
    formats, n = {}, 0
    for table in ANALYSIS_TABLES:
        for v in table.variables:
            if v.kind == CODE and v.name not in formats:
                n += 1
                formats[v.name] = f"$LBL{n}F"
                lines.append(f"  value {formats[v.name]}")
                lines += [f'    "{code}" = "{_sas_text(label)}"' for code, label in v.value_labels()]
                lines.append("  ;")
    lines.append("run;")
    for number, table in enumerate(ANALYSIS_TABLES, start=1):
        short = sas_names([v.name for v in table.variables])
        member = XPT_NAMES[table.name].lower()
        lines += [f'libname xpt{number} xport "{table.name}.xpt";', f"data {member};", f"  set xpt{number}.{member};"]
        lines += [f'  label {short[v.name]} = "{_sas_text(v.label)}";' for v in table.variables]
        lines += [f"  format {short[v.name]} {formats[v.name]}.;" for v in table.variables if v.name in formats]
        lines.append("run;")
    return ("\n".join(lines) + "\n").encode()


def _sas_text(text):
    return str(text).replace('"', "'")[:256]


def analysis_export(patients, fmt, encoding="utf-8"):
    """(bytes, number of patients) of the data set in ``fmt``.

    ``zip``: one CSV per table; ``csv``: the patients table alone; ``xlsx``: one sheet per table
    and a ``labels`` sheet; ``xpt`` (SAS transport v8), ``xpt5`` (v5, with ``formats.sas``),
    ``dta``, ``sav``: a ZIP of one such file per table. ``encoding``: of the CSV files.
    """
    frames = analysis_tables(patients)
    n = len(frames["patients"])
    if fmt == "csv":
        return writers.write_csv(*records(frames["patients"]), encoding=encoding), n
    if fmt == "zip":
        files = {
            f"{t.name}.csv": writers.write_csv(*records(frames[t.name]), encoding=encoding) for t in ANALYSIS_TABLES
        }
        return writers.write_zip(files), n
    if fmt == "xlsx":
        sheets = {t.name: records(frames[t.name]) for t in ANALYSIS_TABLES}
        labels = [[t.name, v.name, v.label] for t in ANALYSIS_TABLES for v in t.variables]
        sheets["labels"] = (["table", "variable", "label"], labels)
        return writers.write_xlsx(sheets), n
    extension = "xpt" if fmt == "xpt5" else fmt
    files = {f"{t.name}.{extension}": statistical_file(t, frames[t.name], fmt) for t in ANALYSIS_TABLES}
    if fmt == "xpt5":
        files["formats.sas"] = sas_formats_program()
    return writers.write_zip(files), n
