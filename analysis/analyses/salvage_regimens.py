"""Remission after salvage by regimen: the salvage lines after recurrence grouped by regimen code.

Every salvage line started on or after the patient's first relapse or induction failure (the
lines of the paper's "remission after salvage", ``registry.course``) counts once, under the code
of its regimen (``registry.vocabularies``) or under "not coded" while a data manager has not
mapped its free text yet. Per code: the number of lines, of patients, of lines with an evaluable
response, and the lines reaching complete remission with the exact (Clopper-Pearson) 95%
confidence interval. A patient given several regimens counts under each; the free text never
enters the analysis.
"""

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import stats
from ..reports import Row, Section, Table, ci, is_error, missing
from .base import SCHEMA_VERSION, Analysis, guard, register

NAME = "salvage_regimens"
NOT_CODED = ""  # the code of a line whose regimen has no code yet
LINE_COLUMNS = ["patient_id", "number", "regimen_code", "response"]


def salvage_lines(course):
    """One row per salvage line after recurrence: ``patient_id``, ``number`` (1 = second-line
    therapy), ``regimen_code`` ("" if not coded) and ``response``, from the course frame's
    ``salvage_lines_coded``."""
    if "salvage_lines_coded" not in course or course.empty:
        return pd.DataFrame(columns=LINE_COLUMNS)
    per_course_row = course["salvage_lines_coded"].to_numpy()
    coded = pd.notna(per_course_row)
    # "CODE:RESPONSE CODE:RESPONSE ...", in date order. Patients share few distinct texts: each is
    # split once into its lines, then spread over the patients who have it (one row per line,
    # numbered per patient); each distinct "CODE:RESPONSE" is split at its last colon once.
    which, texts = pd.factorize(per_course_row[coded])
    lines_of_text = [str(text).split() for text in texts]
    per_text = np.fromiter(map(len, lines_of_text), dtype="int64", count=len(lines_of_text))
    per_patient = per_text[which]
    n_lines = int(per_patient.sum())
    if not n_lines:
        return pd.DataFrame(columns=LINE_COLUMNS)
    token, distinct = pd.factorize(np.array([line for lines in lines_of_text for line in lines], dtype=object))
    number = np.arange(n_lines, dtype="int64") - np.repeat(np.cumsum(per_patient) - per_patient, per_patient)
    line_token = token[np.repeat((np.cumsum(per_text) - per_text)[which], per_patient) + number]
    parts = pd.Series(distinct, dtype=object).str.rpartition(":")
    out = pd.DataFrame(
        {
            "patient_id": np.repeat(course["patient_id"].to_numpy()[coded].astype("int64"), per_patient),
            "number": number + 1,
            "regimen_code": parts[0].to_numpy(dtype=object)[line_token],
            "response": parts[2].to_numpy(dtype=object)[line_token],
        },
        columns=LINE_COLUMNS,
    )
    if (np.diff(out["patient_id"].to_numpy()) < 0).any():  # the course frame is in patient order
        out = out.sort_values("patient_id", kind="stable", ignore_index=True)
    return out


def salvage_regimens(lines):
    """Counts and remission after salvage per regimen code (``""``: not coded), most lines first,
    "not coded" last, and the same for all lines together (``overall``)."""
    groups = []
    for code, group in lines.groupby("regimen_code", sort=False):
        groups.append({"regimen_code": str(code), **_counts(group)})
    groups.sort(key=lambda g: (g["regimen_code"] == NOT_CODED, -g["n_lines"], g["regimen_code"]))
    return {
        "schema": f"{NAME}/{SCHEMA_VERSION}",
        "regimens": groups,
        "overall": _counts(lines),
        "n_not_coded": int((lines["regimen_code"] == NOT_CODED).sum()),
    }


def _counts(group):
    evaluable = group[group["response"] != "NE"]
    n_cr = int((evaluable["response"] == "CR").sum())
    return {
        "n_lines": int(len(group)),
        "n_patients": int(group["patient_id"].nunique()),
        "n_second_line": int((group["number"] == 1).sum()),
        "n_evaluable": int(len(evaluable)),
        "remission": guard(stats.binomial_proportion, n_cr, len(evaluable))
        if len(evaluable)
        else {"error": "no line with an evaluable response"},
    }


def regimen_table(results):
    """Remission after salvage by regimen code, one row per code and a total row."""
    rows = []
    for group in [*results["regimens"], {"regimen_code": None, **results["overall"]}]:
        if group["regimen_code"] is None:
            label = _("All salvage lines")
        else:
            label = group["regimen_code"] or _("Not coded")
        remission = group["remission"]
        if is_error(remission):
            cr, interval = "-", "-"
        else:
            cr = f"{remission['successes']}/{remission['n']} ({remission['percent']:.1f}%)"
            interval = ci(remission["lower"], remission["upper"])
        rows.append(
            Row(
                [label, str(group["n_lines"]), str(group["n_patients"]), str(group["n_second_line"]), cr, interval],
            )
        )
    notes = [
        _(
            "Salvage lines started on or after the first relapse or induction failure, by the code of their "
            "regimen. Complete remission among lines with an evaluable response; 95% CI exact (Clopper-Pearson). "
            "A patient given several regimens counts under each."
        )
    ]
    if results["n_not_coded"]:
        notes.append(
            _("%(n)s line(s) not coded yet: a data manager maps their regimen text to a code.")
            % {"n": results["n_not_coded"]}
        )
    return Table(
        "salvage_regimens",
        _("Remission after salvage by regimen"),
        NAME,
        [
            _("Regimen code"),
            _("Salvage lines"),
            _("Patients"),
            _("As second-line therapy"),
            _("Complete remission"),
            _("95% CI"),
        ],
        rows,
        notes=notes,
    )


def report_sections(results):
    section = Section("salvage_regimens", _("Remission after salvage by regimen"), [NAME])
    if not results.get(NAME):
        return [missing(section, NAME)]
    section.tables.append(regimen_table(results[NAME]))
    return [section]


ANALYSIS = register(
    Analysis(
        name=NAME,
        title=gettext_lazy("Remission after salvage by regimen"),
        order=35,
        inputs=lambda course: {"lines": salvage_lines(course)},
        compute=lambda frames: salvage_regimens(frames["lines"]),
        report_sections=report_sections,
    )
)
