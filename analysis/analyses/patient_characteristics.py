"""Table 1: characteristics at diagnosis of recurrent or refractory patients vs the rest.

The groups and the factor cut-offs are the course frame's (``registry.course``); the table
reports them as the registry codes them, the labels are the report's business.
"""

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from registry.choices import Immunophenotype, MLLPartner, PrednisoneResponse, Sex
from registry.course import WBC_HIGH, WBC_VERY_HIGH

from ..reports import Row, Section, Table, missing
from ..reports import label as reader_label
from .base import SCHEMA_VERSION, Analysis, course_only, median_range, register

NAME = "patient_characteristics"
# Categorical: (column, levels in display order); continuous: column.
CHARACTERISTICS_CATEGORICAL = {
    "trial": (gettext_noop("Trial"), ("MLL96", "MLL98")),
    "sex": (gettext_noop("Sex"), ("M", "F")),
    "age_under_3_months": (gettext_noop("Age at diagnosis < 3 months"), (1, 0)),
    "wbc_100_or_more": (f"WBC >= {WBC_HIGH} x10^9/L", (1, 0)),
    "wbc_300_or_more": (f"WBC >= {WBC_VERY_HIGH} x10^9/L", (1, 0)),
    "cns_status": (gettext_noop("CNS status"), ("CNS1", "CNS2", "CNS3", "UNKNOWN")),
    "immunophenotype": (gettext_noop("Immunophenotype"), ("PRO_B", "COMMON_B", "OTHER", "UNKNOWN")),
    "prednisone_response": (gettext_noop("Prednisone response"), ("GOOD", "POOR", "UNKNOWN")),
    "mll_partner": (gettext_noop("MLL partner gene"), ("AF4", "ENL", "AF9", "AF10", "OTHER", "UNKNOWN")),
}
CHARACTERISTICS_CONTINUOUS = {
    "age_days": gettext_noop("Age at diagnosis (days)"),
    "wbc": gettext_noop("WBC at diagnosis (x10^9/L)"),
}
CHARACTERISTICS_GROUPS = ("recurrent_or_refractory", "other", "all")
# The report's labels of the coded levels.
LEVEL_LABELS = {
    "sex": dict(Sex.choices),
    "cns_status": {"CNS1": "CNS1", "CNS2": "CNS2", "CNS3": "CNS3", "UNKNOWN": gettext_lazy("Unknown")},  # short
    "immunophenotype": dict(Immunophenotype.choices),
    "prednisone_response": dict(PrednisoneResponse.choices),
    "mll_partner": dict(MLLPartner.choices),
    "age_under_3_months": {"1": gettext_lazy("Yes"), "0": gettext_lazy("No")},
    "wbc_100_or_more": {"1": gettext_lazy("Yes"), "0": gettext_lazy("No")},
    "wbc_300_or_more": {"1": gettext_lazy("Yes"), "0": gettext_lazy("No")},
}


def patient_characteristics(course):
    """Counts with percentages of each group (missing values counted in the denominator and
    reported as ``missing``), medians and ranges of age (days) and WBC (x10^9/L)."""
    rr = course["recurrent_or_refractory"].eq(1).to_numpy()
    # Each group as a mask over the course's rows (no copy of the frame per group).
    masks = {"recurrent_or_refractory": rr, "other": ~rr, "all": np.ones(len(course), dtype=bool)}
    sizes = {g: int(mask.sum()) for g, mask in masks.items()}
    variables = []
    for column, (label, levels) in CHARACTERISTICS_CATEGORICAL.items():
        # Each value coded once, then counted per group: the counts of ``values == level``.
        codes, uniques = pd.factorize(course[column])
        index = {value: i for i, value in enumerate(uniques)}
        tallies = {g: np.bincount(codes[mask & (codes >= 0)], minlength=len(uniques)) for g, mask in masks.items()}
        rows = []
        for level in levels:
            at = index.get(level)
            counts = {g: 0 if at is None else int(tallies[g][at]) for g in masks}
            rows.append({"level": level, "counts": counts, "percents": _percents(counts, sizes)})
        known = {g: sum(row["counts"][g] for row in rows) for g in masks}
        absent = {g: sizes[g] - known[g] for g in masks}
        variables.append({"variable": column, "label": label, "kind": "categorical", "levels": rows, "missing": absent})
    for column, label in CHARACTERISTICS_CONTINUOUS.items():
        values = course[column].to_numpy()
        variables.append(
            {
                "variable": column,
                "label": label,
                "kind": "continuous",
                "summary": {g: median_range(values[mask]) for g, mask in masks.items()},
            }
        )
    return {
        "schema": f"{NAME}/{SCHEMA_VERSION}",
        "groups": sizes,
        "variables": variables,
    }


def _percents(counts, sizes):
    return {g: (100.0 * counts[g] / sizes[g] if sizes[g] else None) for g in sizes}


def table1(characteristics):
    """Table 1: characteristics at diagnosis, recurrent or refractory vs the rest."""
    groups = characteristics["groups"]
    columns = [
        _("Characteristic"),
        _("Recurrent or refractory (n = %(n)s)") % {"n": groups["recurrent_or_refractory"]},
        _("Other patients (n = %(n)s)") % {"n": groups["other"]},
        _("All (n = %(n)s)") % {"n": groups["all"]},
    ]
    rows = []
    for variable in characteristics["variables"]:
        if variable["kind"] == "continuous":
            cells = [_("%(variable)s, median (range)") % {"variable": reader_label(variable["label"])}]
            for g in CHARACTERISTICS_GROUPS:
                s = variable["summary"][g]
                cells.append("-" if not s["n"] else f"{s['median']:g} ({s['min']:g}-{s['max']:g})")
            rows.append(Row(cells))
            continue
        rows.append(Row([reader_label(variable["label"]), "", "", ""], heading=True))
        labels = LEVEL_LABELS.get(variable["variable"], {})
        for level in variable["levels"]:
            cells = [str(labels.get(str(level["level"]), str(level["level"])))]
            for g in CHARACTERISTICS_GROUPS:
                count, percent = level["counts"][g], level["percents"][g]
                cells.append(f"{count} ({percent:.1f}%)" if percent is not None else str(count))
            rows.append(Row(cells))
        if any(variable["missing"].values()):
            rows.append(Row([_("Not recorded")] + [str(variable["missing"][g]) for g in CHARACTERISTICS_GROUPS]))
    return Table(
        "table1",
        _("Patient characteristics at diagnosis"),
        NAME,
        columns,
        rows,
        notes=[
            _(
                "Recurrent or refractory: relapse after first remission or induction failure. "
                "Percentages of each column's patients."
            )
        ],
    )


def report_sections(results):
    section = Section("patients", _("Patients"), [NAME])
    if not results.get(NAME):
        return [missing(section, NAME)]
    section.tables.append(table1(results[NAME]))
    return [section]


ANALYSIS = register(
    Analysis(
        name=NAME,
        title=gettext_lazy("Patient characteristics, recurrent or refractory vs the rest (Table 1)"),
        order=10,
        inputs=course_only,
        compute=lambda frames: patient_characteristics(frames["course"]),
        report_sections=report_sections,
    )
)
