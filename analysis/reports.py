"""The outcome report as tables and figures, built from stored analysis results only.

Pure functions: stored ``results`` dicts (docs/analysis-results.md) in, :class:`Table` and
:class:`Figure` descriptions out, in the order of the paper (Pediatr Blood Cancer
2009;52:808-13): patients, outcomes, OS after second-line treatment by factor, the Cox model,
competing risks, the corrections for immortal-time bias, outcomes from diagnosis. Nothing here
queries the database or fits a model; the figures themselves are the runs' stored SVGs, and
``analysis.figures`` redraws them from the same results for PNG and PDF.

Also here: CSV/XLSX/PDF rendering of those tables, with formula-looking text neutralised.
"""

import csv
import io
from dataclasses import dataclass, field

from registry.choices import CNSStatus, Immunophenotype, MLLPartner, PrednisoneResponse, Sex

from .analyses import COX_COVARIATES, LANDMARK_DAYS
from .figures import group_label, lower_first

DAYS_PER_YEAR = 365.25
RISK_YEARS = (0, 1, 2, 3, 4, 5)

# The analyses a report reads, in the order they are computed on "recompute".
REPORT_ANALYSES = (
    "cohort_summary",
    "patient_characteristics",
    "os_after_second_line",
    "competing_risks",
    "time_dependent",
    "outcomes_from_diagnosis",
)

LEVEL_LABELS = {
    "sex": dict(Sex.choices),
    "cns_status": {"CNS1": "CNS1", "CNS2": "CNS2", "CNS3": "CNS3", "UNKNOWN": "Unknown"},
    "immunophenotype": dict(Immunophenotype.choices),
    "prednisone_response": dict(PrednisoneResponse.choices),
    "mll_partner": dict(MLLPartner.choices),
    "age_under_3_months": {"1": "Yes", "0": "No"},
    "wbc_100_or_more": {"1": "Yes", "0": "No"},
    "wbc_300_or_more": {"1": "Yes", "0": "No"},
}
_ = CNSStatus  # the labels above are the short forms of CNSStatus


@dataclass
class Row:
    cells: list
    heading: bool = False  # a sub-heading row (Table 1's variable names)


@dataclass
class Table:
    """A report table; ``analysis`` names the stored run it comes from (its provenance)."""

    name: str
    title: str
    analysis: str
    columns: list
    rows: list
    notes: list = field(default_factory=list)
    text_columns: tuple = ()  # indices of columns of text (left-aligned); the rest are numbers
    also_from: tuple = ()  # further analyses whose results the table shows
    provenances: list = field(default_factory=list)  # one per source run, set by the view per request

    @property
    def sources(self):
        return (self.analysis, *self.also_from)

    def matrix(self):
        """Header + rows as plain lists, for CSV/XLSX/PDF."""
        return [list(self.columns)] + [list(r.cells) + [""] * (len(self.columns) - len(r.cells)) for r in self.rows]


@dataclass
class Figure:
    """A stored figure: the run's SVG ``name``, its caption and text alternative."""

    name: str
    title: str
    analysis: str
    description: str
    risk_table: Table = None
    provenance: object = None  # set by the view, per request


@dataclass
class Section:
    key: str
    title: str
    analyses: list
    intro: str = ""
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    error: str = ""
    provenance: list = field(default_factory=list)  # set by the view, per request


@dataclass
class Report:
    sections: list

    def tables(self):
        return [t for s in self.sections for t in s.tables]

    def table(self, name):
        return next((t for t in self.tables() if t.name == name), None)

    def figures(self):
        return [f for s in self.sections for f in s.figures]


# --- formatting -----------------------------------------------------------------------------


def pct(value, digits=1):
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def years(days, digits=2):
    return "-" if days is None else f"{days / DAYS_PER_YEAR:.{digits}f}"


def p_value(p):
    if p is None:
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _num(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def _error(value):
    return isinstance(value, dict) and "error" in value


def _ci(lower, upper, fmt=pct):
    if lower is None or upper is None:
        return "-"
    return f"{fmt(lower)} to {fmt(upper)}"


def _median(km):
    m = (km or {}).get("median") or {}
    if not m.get("reached"):
        return "not reached"
    ci = f" ({years(m.get('lower'))}-{years(m.get('upper')) if m.get('upper') is not None else 'NR'})"
    return f"{years(m.get('time'))}{ci if m.get('lower') is not None else ''}"


def _at(km, year):
    for entry in (km or {}).get("at_times") or []:
        if round(entry.get("time_years") or 0) == year:
            return entry
    return {}


# --- the tables -----------------------------------------------------------------------------


def table1(characteristics):
    """Table 1: characteristics at diagnosis, recurrent or refractory vs the rest."""
    groups = characteristics["groups"]
    columns = [
        "Characteristic",
        f"Recurrent or refractory (n = {groups['recurrent_or_refractory']})",
        f"Other patients (n = {groups['other']})",
        f"All (n = {groups['all']})",
    ]
    order = ("recurrent_or_refractory", "other", "all")
    rows = []
    for variable in characteristics["variables"]:
        if variable["kind"] == "continuous":
            cells = [f"{variable['label']}, median (range)"]
            for g in order:
                s = variable["summary"][g]
                cells.append("-" if not s["n"] else f"{s['median']:g} ({s['min']:g}-{s['max']:g})")
            rows.append(Row(cells))
            continue
        rows.append(Row([variable["label"], "", "", ""], heading=True))
        labels = LEVEL_LABELS.get(variable["variable"], {})
        for level in variable["levels"]:
            cells = [labels.get(str(level["level"]), str(level["level"]))]
            for g in order:
                count, percent = level["counts"][g], level["percents"][g]
                cells.append(f"{count} ({percent:.1f}%)" if percent is not None else str(count))
            rows.append(Row(cells))
        if any(variable["missing"].values()):
            rows.append(Row(["Not recorded"] + [str(variable["missing"][g]) for g in order]))
    return Table(
        "table1",
        "Patient characteristics at diagnosis",
        "patient_characteristics",
        columns,
        rows,
        notes=[
            "Recurrent or refractory: relapse after first remission or induction failure. "
            "Percentages of each column's patients."
        ],
    )


def outcome_table(summary, os2):
    """The outcome table: salvage remission, transplants, OS at 1/3/5 years, median follow-up."""
    rows = [
        Row(["Registered patients", str(summary["n_registered"]), ""]),
        Row(["Relapse after first remission (CR1)", str(summary["n_relapsed"]), ""]),
        Row(["Induction failure", str(summary["n_induction_failure"]), ""]),
        Row(["Recurrent or refractory", str(summary["n_recurrent_or_refractory"]), ""]),
    ]
    fr = summary["first_remission_months"]
    if fr["n"]:
        rows.append(
            Row(
                [
                    "Duration of first remission, months, median (range)",
                    f"{fr['median']:.1f} ({fr['min']:.0f}-{fr['max']:.0f})",
                    f"n = {fr['n']}",
                ]
            )
        )
    salvage = summary["salvage_remission"]
    if _error(salvage):
        rows.append(Row(["Remission after salvage therapy", "-", salvage["error"]]))
    else:
        rows.append(
            Row(
                [
                    "Remission after salvage therapy",
                    f"{salvage['successes']}/{salvage['n']} ({salvage['percent']:.1f}%)",
                    f"95% CI {_ci(salvage['lower'], salvage['upper'])} (exact)",
                ]
            )
        )
    hsct = summary["transplants_after_recurrence"]
    rows += [
        Row(["HSCT after recurrence", str(hsct["n"]), ""]),
        Row(["HSCT in remission", str(hsct["in_remission"]), ""]),
        Row(["HSCT not in remission", str(hsct["not_in_remission"]), ""]),
        Row(["HSCT with disease status unknown", str(hsct["unknown"]), ""]),
    ]
    overall = os2["overall"] if os2 else None
    if overall and not _error(overall):
        for year in (1, 3, 5):
            at = _at(overall, year)
            if not at or at.get("survival") is None:
                rows.append(Row([f"{year}-year OS after second-line treatment", "beyond follow-up", ""]))
                continue
            rows.append(
                Row(
                    [
                        f"{year}-year OS after second-line treatment",
                        f"{pct(at['survival'])} ± {pct(at['std_err'])} (SE)",
                        f"95% CI {_ci(at['lower'], at['upper'])}; {at['n_at_risk']} at risk",
                    ]
                )
            )
        rows.append(Row(["Median OS after second-line treatment, years", _median(overall), "95% CI in brackets"]))
    follow_up = os2.get("median_follow_up") if os2 else None
    if follow_up and not _error(follow_up):
        rows.append(
            Row(
                [
                    "Median follow-up after second-line treatment, years",
                    years(follow_up["median_days"], 1),
                    "reverse Kaplan-Meier",
                ]
            )
        )
    return Table(
        "outcomes",
        "Outcome after recurrence or induction failure",
        "os_after_second_line",
        ["Measure", "Value", "Note"],
        rows,
        text_columns=(2,),
        notes=[
            "OS: overall survival from the start of second-line (salvage) treatment, Kaplan-Meier estimate "
            "± Greenwood standard error; 95% confidence intervals on the log scale."
        ],
    )


def _km_row(label, km, n_label=None):
    if _error(km):
        return [label, "-", "-", "-", "-", km["error"]]
    at5 = _at(km, 5)
    five = f"{pct(at5['survival'])} ± {pct(at5['std_err'])}" if at5.get("survival") is not None else "beyond follow-up"
    return [label, str(km["n"]), str(km["n_events"]), five, _ci(at5.get("lower"), at5.get("upper")), _median(km)]


def factor_table(name, title, analysis, factors, *, endpoint="OS", notes=()):
    """One row per group of each factor: n, events, 5-year estimate, median; the log-rank P."""
    columns = [
        "Factor / group",
        "n",
        "Events",
        f"5-year {endpoint} ± SE",
        "95% CI",
        "Median, years (95% CI)",
        "Log-rank P",
    ]
    rows = []
    for factor in factors:
        p = None if _error(factor["logrank"]) else factor["logrank"].get("p")
        rows.append(Row([factor["label"], "", "", "", "", "", p_value(p)], heading=True))
        if _error(factor["curves"]):
            rows.append(Row([factor["curves"]["error"], "", "", "", "", "", ""]))
            continue
        groups = factor["curves"]["groups"]
        for level in sorted(groups, key=lambda lv: (lv != "1", lv)):
            rows.append(Row(_km_row(group_label(factor["factor"], level), groups[level]) + [""]))
    return Table(name, title, analysis, columns, rows, notes=list(notes))


def cox_table(name, title, analysis, model, labels, *, notes=()):
    """Hazard ratios with 95% CI and Wald P, and the proportional-hazards test, for every term."""
    columns = ["Term", "Hazard ratio", "95% CI", "P (Wald)", "PH test P"]
    if _error(model):
        return Table(name, title, analysis, columns, [Row([model["error"], "", "", "", ""])], notes=list(notes))
    ph = {t["term"]: t.get("p") for t in (model.get("ph_test") or {}).get("terms", [])}
    rows = []
    for term in model["terms"]:
        ci = "-" if term.get("lower") is None else f"{_num(term['lower'])}-{_num(term['upper'])}"
        rows.append(
            Row(
                [
                    labels.get(term["term"], term["term"]),
                    _num(term.get("hazard_ratio")),
                    ci,
                    p_value(term.get("p")),
                    p_value(ph.get(term["term"])),
                ]
            )
        )
    n_subjects = model.get("n_subjects", model.get("n"))
    details = [f"{n_subjects} patients, {model.get('n_events')} deaths; Efron ties."]
    glob = (model.get("ph_test") or {}).get("global")
    if glob:
        details.append(f"Global proportional-hazards test (cox.zph) P = {p_value(glob.get('p'))}.")
    if model.get("warnings"):
        details += model["warnings"]
    return Table(name, title, analysis, columns, rows, notes=list(notes) + details)


def _cif_rows(label, cif, n=None):
    if _error(cif):
        return [Row([label, "-", "-", "-", "-", cif["error"]])]
    cause = cif["causes"]["1"]
    cells = [label, str(cif["n"])]
    for year in (1, 3, 5):
        at = next((e for e in cause.get("at_times", []) if round(e.get("time_years") or 0) == year), {})
        cells.append(
            "beyond follow-up"
            if at.get("estimate") is None or at.get("beyond_follow_up")
            else f"{pct(at['estimate'])} ({_ci(at.get('lower'), at.get('upper'))})"
        )
    cells.append("")
    return [Row(cells)]


def competing_risks_table(results):
    relapse, nrm = results["relapse_incidence"], results["non_relapse_mortality"]
    columns = ["Endpoint / group", "n", "1 year (95% CI)", "3 years (95% CI)", "5 years (95% CI)", "Gray's test P"]
    rows = [Row(["Relapse (death in remission competing), from CR1", "", "", "", "", ""], heading=True)]
    rows += _cif_rows("All patients in CR1", relapse["overall"])
    gray = relapse.get("grays_test") or {}
    for i, (level, cif) in enumerate(sorted((relapse.get("by_group") or {}).items())):
        group_rows = _cif_rows(f"Trial {level}", cif)
        if i == 0 and not _error(gray):
            group_rows[0].cells[-1] = p_value(gray.get("p"))
        rows += group_rows
    heading = "Non-relapse mortality (relapse competing), from the first HSCT"
    rows.append(Row([heading, "", "", "", "", ""], heading=True))
    rows += _cif_rows("Transplanted patients", nrm["overall"])
    return Table(
        "competing_risks",
        "Cumulative incidence of relapse and of non-relapse mortality",
        "competing_risks",
        columns,
        rows,
        notes=[
            "Aalen-Johansen estimates with 95% confidence intervals; competing events are not "
            "censored (1 - Kaplan-Meier would overstate the incidence)."
        ],
    )


def risk_table(name, curves, *, analysis):
    """Numbers at risk at 0-5 years for each curve (label -> KM), as printed under a KM figure."""
    rows = []
    for label, km in curves.items():
        if not km or _error(km):
            continue
        at_risk = {round(r["time_years"]): r["n_at_risk"] for r in km.get("risk_table") or []}
        rows.append(Row([label] + [str(at_risk.get(y, "-")) for y in RISK_YEARS]))
    return Table(f"risk_{name}", "Number at risk", analysis, ["Years"] + [str(y) for y in RISK_YEARS], rows)


def _factor_curves(factor):
    if _error(factor["curves"]):
        return {}
    groups = factor["curves"]["groups"]
    return {group_label(factor["factor"], lv): groups[lv] for lv in sorted(groups, key=lambda lv: (lv != "1", lv))}


def _km_figure(name, title, analysis, curves, p=None, extra=""):
    parts = []
    for label, km in curves.items():
        if not km or _error(km):
            continue
        at5 = _at(km, 5)
        five = f"5-year {pct(at5['survival'])}" if at5.get("survival") is not None else "5-year beyond follow-up"
        parts.append(f"{label}: n = {km['n']}, {km['n_events']} events, {five}, median {_median(km)} years")
    description = "Kaplan-Meier curves with 95% confidence bands and censoring ticks. " + "; ".join(parts) + "."
    if p is not None:
        description += f" Log-rank P = {p_value(p)}."
    return Figure(name, title, analysis, description + extra, risk_table(name, curves, analysis=analysis))


def _factor_figure(name, title, analysis, factor):
    p = None if _error(factor["logrank"]) else factor["logrank"].get("p")
    return _km_figure(name, title, analysis, _factor_curves(factor), p)


# --- the report -----------------------------------------------------------------------------


def build_report(results):
    """The whole report from stored results (``{analysis name: results or None}``)."""
    sections = [
        _patients(results.get("patient_characteristics")),
        _outcomes(results.get("cohort_summary"), results.get("os_after_second_line")),
        _os_by_factor(results.get("os_after_second_line")),
        _cox(results.get("os_after_second_line")),
        _competing(results.get("competing_risks")),
        _corrections(results.get("time_dependent")),
        _from_diagnosis(results.get("outcomes_from_diagnosis")),
    ]
    tables = [t for s in sections for t in s.tables]
    figures = [f for s in sections for f in s.figures]
    for number, table in enumerate(tables, start=1):
        table.title = f"Table {number}. {table.title}"
    for number, figure in enumerate(figures, start=1):
        figure.title = f"Figure {number}. {figure.title}"
    return Report(sections)


def _missing(section, name):
    section.error = f"No stored result of the analysis '{name}' for this selection yet."
    return section


def _patients(characteristics):
    section = Section("patients", "Patients", ["patient_characteristics"])
    if not characteristics:
        return _missing(section, "patient_characteristics")
    section.tables.append(table1(characteristics))
    return section


def _outcomes(summary, os2):
    section = Section("outcomes", "Outcome after recurrence", ["cohort_summary", "os_after_second_line"])
    if summary:
        table = outcome_table(summary, os2)
        table.analysis, table.also_from = "cohort_summary", ("os_after_second_line",) if os2 else ()
        section.tables.append(table)
    else:
        _missing(section, "cohort_summary")
    if os2 and not _error(os2["overall"]):
        section.figures.append(
            _km_figure(
                "os_overall",
                "Overall survival after second-line treatment",
                "os_after_second_line",
                {"All patients": os2["overall"]},
            )
        )
    return section


def _os_by_factor(os2):
    section = Section(
        "univariate",
        "Overall survival after second-line treatment by factor",
        ["os_after_second_line"],
        intro="Univariate comparisons (Kaplan-Meier, log-rank test) of the factors the paper examined.",
    )
    if not os2:
        return _missing(section, "os_after_second_line")
    section.tables.append(
        factor_table(
            "os_by_factor",
            "OS after second-line treatment by factor",
            "os_after_second_line",
            os2["univariate"],
            notes=[
                "Remission after salvage and HSCT happen after the time origin; their comparison here favours them "
                "(immortal-time bias); see the time-dependent and landmark analyses below."
            ],
        )
    )
    for factor in os2["univariate"]:
        section.figures.append(
            _factor_figure(
                f"os_by_{factor['factor']}",
                f"OS after second-line treatment by {lower_first(factor['label'])}",
                "os_after_second_line",
                factor,
            )
        )
    return section


def _cox(os2):
    section = Section(
        "cox",
        "Multivariable Cox model",
        ["os_after_second_line"],
        intro="The paper's model: baseline factors and remission after salvage as a fixed covariate.",
    )
    if not os2:
        return _missing(section, "os_after_second_line")
    cox = os2["cox"]
    section.tables.append(
        cox_table(
            "cox",
            "Multivariable Cox model of OS after second-line treatment",
            "os_after_second_line",
            cox["model"],
            cox.get("labels") or COX_COVARIATES,
            notes=[cox.get("note", "")],
        )
    )
    if not _error(cox["model"]):
        labels = cox.get("labels") or COX_COVARIATES
        terms = "; ".join(
            f"{labels.get(t['term'], t['term'])}: HR {_num(t.get('hazard_ratio'))} "
            f"({_num(t.get('lower'))}-{_num(t.get('upper'))}), P = {p_value(t.get('p'))}"
            for t in cox["model"]["terms"]
        )
        section.figures.append(
            Figure(
                "cox_forest",
                "Forest plot of the multivariable Cox model",
                "os_after_second_line",
                f"Hazard ratios with 95% confidence intervals on a log scale. {terms}.",
            )
        )
    return section


def _competing(results):
    section = Section(
        "competing",
        "Relapse and non-relapse mortality",
        ["competing_risks"],
        intro="Relapse and death in remission compete: cumulative incidence (Aalen-Johansen), compared with "
        "Gray's test.",
    )
    if not results:
        return _missing(section, "competing_risks")
    section.tables.append(competing_risks_table(results))
    relapse, nrm = results["relapse_incidence"], results["non_relapse_mortality"]
    if not _error(relapse["overall"]):
        section.figures.append(
            Figure(
                "relapse_incidence",
                "Cumulative incidence of relapse",
                "competing_risks",
                f"Cumulative incidence of relapse from first remission, {relapse['n']} patients, "
                "death in remission competing.",
            )
        )
    if relapse.get("by_group"):
        gray = relapse.get("grays_test") or {}
        section.figures.append(
            Figure(
                "relapse_incidence_by_trial",
                "Cumulative incidence of relapse by trial",
                "competing_risks",
                "Cumulative incidence of relapse by trial; Gray's test P = "
                f"{p_value(None if _error(gray) else gray.get('p'))}.",
            )
        )
    if not _error(nrm["overall"]):
        section.figures.append(
            Figure(
                "non_relapse_mortality",
                "Non-relapse mortality after HSCT",
                "competing_risks",
                f"Cumulative incidence of death without relapse after the first HSCT, {nrm['n']} patients, "
                "relapse competing.",
            )
        )
    return section


def _corrections(results):
    section = Section(
        "corrections",
        "Correcting for immortal-time bias",
        ["time_dependent"],
        intro=(
            "Remission after salvage and HSCT happen after the start of second-line treatment, so a patient must "
            "survive long enough to receive them. Counting them from the start (as Table 3 and Table 4 do) credits "
            "that waiting time to the treated group and makes them look better than they are (immortal-time bias). "
            "The time-dependent Cox model counts a patient as untreated until the day of HSCT or remission; the "
            f"landmark analysis compares only patients alive {LANDMARK_DAYS} days after the start of salvage, by "
            "their status on that day."
        ),
    )
    if not results:
        return _missing(section, "time_dependent")
    td = results["time_dependent_cox"]
    labels = {
        "hsct": "HSCT (time-dependent)",
        "salvage_remission": "Remission after salvage (time-dependent)",
        **COX_COVARIATES,
    }
    section.tables.append(
        cox_table(
            "time_dependent_cox",
            "Cox model with HSCT and remission as time-dependent covariates",
            "time_dependent",
            td["model"],
            labels,
            notes=[td.get("explanation", "")],
        )
    )
    landmark = results["landmark"]
    if "error" in landmark:
        section.error = f"Landmark analysis: {landmark['error']}"
        return section
    lm_labels = {"hsct_by_landmark": "HSCT by the landmark", "remission_by_landmark": "Remission by the landmark"}
    table = factor_table(
        "landmark",
        f"Landmark analysis at {landmark['landmark_days']} days after the start of salvage",
        "time_dependent",
        [landmark["by_hsct"], landmark["by_remission"]],
        notes=[
            landmark.get("explanation", ""),
            f"{landmark['n']} patients at the landmark; {landmark['n_excluded']} died or were censored before it.",
        ],
    )
    section.tables.append(table)
    section.tables.append(
        cox_table(
            "landmark_cox",
            "Cox model from the landmark",
            "time_dependent",
            landmark["cox"],
            lm_labels,
        )
    )
    days = landmark["landmark_days"]
    section.figures.append(
        _factor_figure(
            "landmark_by_hsct",
            f"OS from {days} days after the start of salvage, by HSCT by then",
            "time_dependent",
            landmark["by_hsct"],
        )
    )
    section.figures.append(
        _factor_figure(
            "landmark_by_remission",
            f"OS from {days} days after the start of salvage, by remission by then",
            "time_dependent",
            landmark["by_remission"],
        )
    )
    return section


def _from_diagnosis(results):
    section = Section(
        "diagnosis",
        "Outcomes of all registered patients from diagnosis",
        ["outcomes_from_diagnosis"],
        intro="Overall and event-free survival of the whole cohort from diagnosis, by trial.",
    )
    if not results:
        return _missing(section, "outcomes_from_diagnosis")
    os_, efs = results["os"], results["efs"]
    table = factor_table(
        "from_diagnosis",
        "OS and EFS from diagnosis by trial",
        "outcomes_from_diagnosis",
        [
            {**os_["by_trial"], "label": "Overall survival, by trial"},
            {**efs["by_trial"], "label": "Event-free survival, by trial"},
        ],
        endpoint="survival",
        notes=[f"EFS events: {efs.get('events', '')}."],
    )
    follow_up = results.get("median_follow_up")
    if follow_up and not _error(follow_up):
        median = years(follow_up["median_days"], 1)
        table.notes.append(f"Median follow-up from diagnosis {median} years (reverse Kaplan-Meier).")
    section.tables.append(table)
    section.figures.append(
        _factor_figure(
            "os_by_trial", "Overall survival from diagnosis by trial", "outcomes_from_diagnosis", os_["by_trial"]
        )
    )
    section.figures.append(
        _factor_figure(
            "efs_by_trial", "Event-free survival from diagnosis by trial", "outcomes_from_diagnosis", efs["by_trial"]
        )
    )
    return section


# --- downloads ------------------------------------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def provenance_lines(provenances):
    lines = []
    for p in provenances:
        lines += [
            f"Source: analysis run {p.run_id} ({p.analysis}), finished {p.finished:%Y-%m-%d %H:%M} UTC; "
            f"{p.n_patients} patients ({p.selection}); data revision {p.data_revision}"
            + (" (the registry has changed since)" if p.stale else ""),
            f"Data fingerprint {p.fingerprint}; code version {p.code_version}",
        ]
    return lines


def table_csv(table):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([table.title])
    for row in table.matrix():
        writer.writerow([neutralise(c) for c in row])
    for note in table.notes:
        if note:
            writer.writerow([neutralise(note)])
    writer.writerow([])
    for line in provenance_lines(table.provenances):
        writer.writerow([neutralise(line)])
    return buffer.getvalue()


def table_xlsx(table):
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = table.name[:31]
    sheet.append([table.title])
    sheet["A1"].font = Font(bold=True)
    for i, row in enumerate(table.matrix()):
        sheet.append([neutralise(c) for c in row])
        if i == 0:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
    for note in [n for n in table.notes if n] + [""] + provenance_lines(table.provenances):
        sheet.append([neutralise(note)])
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever the text
    sheet.column_dimensions["A"].width = 48
    for letter in "BCDEFG":
        sheet.column_dimensions[letter].width = 22
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def report_pdf(report, figure_specs, *, heading, provenance_text):
    """The whole report as PDF: a title page with provenance, each table, then each figure.

    ``figure_specs``: figure name -> ``analysis.figures.FigureSpec`` drawn from the stored results.
    """
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": heading, "Creator": "MLL96/MLL98 registry"}) as pdf:
        page = plt.figure(figsize=(8.27, 11.69))
        page.text(0.08, 0.93, heading, fontsize=15, weight="bold")
        y = 0.88
        for line in provenance_text:
            page.text(0.08, y, line, fontsize=8, wrap=True)
            y -= 0.025
        pdf.savefig(page)
        plt.close(page)
        for table in report.tables():
            _pdf_table(pdf, table, plt)
        for figure in report.figures():
            spec = figure_specs.get(figure.name)
            if spec is None:
                continue
            fig = spec.draw()
            fig.suptitle(figure.title, x=0.02, ha="left", fontsize=9)
            pdf.savefig(fig, bbox_inches="tight")
            plt.close(fig)
    return buffer.getvalue()


def _pdf_table(pdf, table, plt, rows_per_page=38):
    matrix = table.matrix()
    header, body = matrix[0], matrix[1:]
    for start in range(0, max(1, len(body)), rows_per_page):
        chunk = body[start : start + rows_per_page]
        page = plt.figure(figsize=(11.69, 8.27))
        page.text(0.04, 0.95, table.title + (" (continued)" if start else ""), fontsize=11, weight="bold")
        ax = page.add_axes([0.04, 0.12, 0.92, 0.8])
        ax.axis("off")
        if chunk:
            cells = ax.table(
                cellText=[[str(c) for c in row] for row in chunk],
                colLabels=header,
                loc="upper left",
                cellLoc="left",
                colLoc="left",
            )
            cells.auto_set_font_size(False)
            cells.set_fontsize(7)
            cells.auto_set_column_width(list(range(len(header))))
        notes = [n for n in table.notes if n] + provenance_lines(table.provenances)
        for i, note in enumerate(notes):
            page.text(0.04, 0.08 - i * 0.018, note, fontsize=6.5)
        pdf.savefig(page)
        plt.close(page)
