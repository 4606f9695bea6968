"""The outcome report's vocabulary: tables, figures and sections built from stored results.

Pure: stored ``results`` dicts (docs/analysis-results.md) in, :class:`Table`, :class:`Figure`
and :class:`Section` descriptions out. Each analysis builds its own sections from these parts
(``Analysis.report_sections`` in ``analysis.analyses``); ``analysis.analyses.build_report``
puts them in the order of the paper (Pediatr Blood Cancer 2009;52:808-13) and :func:`numbered`
numbers them. Nothing here queries the database or fits a model; the figures themselves are
the runs' stored SVGs, and ``analysis.figures`` redraws them from the same results for PNG and
PDF (``analysis.report_files`` renders CSV, XLSX and PDF).

Text is translated here, when a report is built for a request (``gettext``): the stored results
hold English labels (marked with ``gettext_noop`` where they are declared), which
:func:`label` translates, and the English messages of the statistics (``analysis.stats`` has no
Django in it), which :func:`message` translates; the stored SVG figures are translated when they
are served (``analysis.figure_text``).
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .figure_text import Phrases
from .figures import factor_curves, format_p, group_label

DAYS_PER_YEAR = 365.25
RISK_YEARS = (0, 1, 2, 3, 4, 5)


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


def label(text):
    """A label stored in English in the results (a factor, a group, a term), in the reader's language."""
    return _(text) if text else text


# What the statistics and the analyses store in English as an estimate's "error" or in its
# "warnings" (the data cannot give the estimate), most specific first. Other texts (a programming
# error's) are shown as stored.
STATS_MESSAGES = Phrases(
    [
        gettext_noop("no patients: nothing to estimate"),
        gettext_noop("no events: survival stays 1 and the median is not reached"),
        gettext_noop("group '%(group)s' has no patients and is left out"),
        gettext_noop("column 'group' needs at least two groups with patients for a log-rank test, got %(n)s"),
        gettext_noop("column 'group' needs at least two groups with patients for Gray's test, got %(n)s"),
        gettext_noop("fewer than two groups with expected events (no events?): no test possible"),
        gettext_noop("cause %(cause)s: variance matrix is singular (too few events); no test"),
        gettext_noop("no rows: a Cox model needs data"),
        gettext_noop("column '%(column)s' has no events: a Cox model cannot be fitted"),
        gettext_noop("covariate '%(covariate)s' has no variation (all %(value)s) and was dropped"),
        gettext_noop("covariate '%(covariate)s' is a linear combination of earlier covariates and was dropped"),
        gettext_noop("no covariate with variation is left to fit: %(reasons)s"),
        gettext_noop("the Cox model could not be fitted (%(reason)s); no estimates"),
        gettext_noop("the information matrix is singular"),
        gettext_noop("information matrix is singular: standard errors are not available"),
        gettext_noop(
            "the Cox fit did not converge in %(n)s Newton-Raphson iterations (R's limit); estimates are not "
            "reliable (one or more coefficients may be infinite)"
        ),
        gettext_noop(
            "loglik converged before covariate(s) %(covariates)s; coefficient may be infinite (monotone "
            "likelihood, e.g. a covariate that separates events perfectly)"
        ),
        gettext_noop("column '%(column)s' has %(n)s missing value(s)"),
        gettext_noop(
            "column '%(column)s' has %(n)s missing or infinite value(s) (first at position %(position)s); drop "
            "or impute them first"
        ),
        gettext_noop("no patient with an evaluable salvage response"),
        gettext_noop("no line with an evaluable response"),
        gettext_noop("not computed"),
    ]
)


def message(text):
    """A message the statistics stored in English (an estimate's error or warning), in the
    reader's language."""
    return STATS_MESSAGES.translate(text) if text else text


def pct(value, digits=1):
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def years(days, digits=2):
    return "-" if days is None else f"{days / DAYS_PER_YEAR:.{digits}f}"


def p_value(p):
    if p is None:
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def num(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def is_error(value):
    return isinstance(value, dict) and "error" in value


def ci(lower, upper, fmt=pct):
    if lower is None or upper is None:
        return "-"
    return _("%(lower)s to %(upper)s") % {"lower": fmt(lower), "upper": fmt(upper)}


def median_text(km):
    m = (km or {}).get("median") or {}
    if not m.get("reached"):
        return _("not reached")
    ci = f" ({years(m.get('lower'))}-{years(m.get('upper')) if m.get('upper') is not None else 'NR'})"
    return f"{years(m.get('time'))}{ci if m.get('lower') is not None else ''}"


def survival_text(at):
    """A KM estimate as journals print it: "25.6% (SE 6.9%)"; "0.0%" once the curve reached 0
    (known, no standard error); "beyond follow-up" where follow-up ended with patients at risk."""
    if not at or at.get("survival") is None:
        return _("beyond follow-up")
    if at.get("std_err") is None:
        return pct(at["survival"])
    return f"{pct(at['survival'])} (SE {pct(at['std_err'])})"


def at_year(km, year):
    for entry in (km or {}).get("at_times") or []:
        if round(entry.get("time_years") or 0) == year:
            return entry
    return {}


# --- tables and figures any analysis uses -------------------------------------------------


def km_row(label, km):
    if is_error(km):
        return [label, "-", "-", "-", "-", message(km["error"])]
    at5 = at_year(km, 5)
    five = survival_text(at5)
    return [label, str(km["n"]), str(km["n_events"]), five, ci(at5.get("lower"), at5.get("upper")), median_text(km)]


def factor_table(name, title, analysis, factors, *, endpoint="OS", notes=()):
    """One row per group of each factor: n, events, 5-year estimate, median; the log-rank P."""
    columns = [
        _("Factor / group"),
        "n",
        _("Events"),
        _("5-year %(endpoint)s (SE)") % {"endpoint": endpoint},
        "95% CI",
        _("Median, years (95% CI)"),
        _("Log-rank P"),
    ]
    rows = []
    for factor in factors:
        p = None if is_error(factor["logrank"]) else factor["logrank"].get("p")
        rows.append(Row([label(factor["label"]), "", "", "", "", "", p_value(p)], heading=True))
        if is_error(factor["curves"]):
            rows.append(Row([message(factor["curves"]["error"]), "", "", "", "", "", ""]))
            continue
        groups = factor["curves"]["groups"]
        for level in sorted(groups, key=lambda lv: (lv != "1", lv)):
            rows.append(Row(km_row(label(group_label(factor["factor"], level)), groups[level]) + [""]))
    return Table(name, title, analysis, columns, rows, notes=list(notes))


def cox_table(name, title, analysis, model, labels, *, notes=()):
    """Hazard ratios with 95% CI and Wald P, and the proportional-hazards test, for every term."""
    columns = [_("Term"), _("Hazard ratio"), "95% CI", _("P (Wald)"), _("PH test P")]
    if is_error(model):
        return Table(
            name, title, analysis, columns, [Row([message(model["error"]), "", "", "", ""])], notes=list(notes)
        )
    ph = {t["term"]: t.get("p") for t in (model.get("ph_test") or {}).get("terms", [])}
    rows = []
    for term in model["terms"]:
        interval = "-" if term.get("lower") is None else f"{num(term['lower'])}-{num(term['upper'])}"
        rows.append(
            Row(
                [
                    label(labels.get(term["term"], term["term"])),
                    num(term.get("hazard_ratio")),
                    interval,
                    p_value(term.get("p")),
                    p_value(ph.get(term["term"])),
                ]
            )
        )
    n_subjects = model.get("n_subjects", model.get("n"))
    details = [
        _("%(n)s patients, %(deaths)s deaths; %(ties)s ties.")
        % {"n": n_subjects, "deaths": model.get("n_events"), "ties": (model.get("ties") or "efron").title()}
    ]
    glob = (model.get("ph_test") or {}).get("global")
    if glob:
        details.append(_("Global proportional-hazards test (cox.zph) %(p)s.") % {"p": format_p(glob.get("p"))})
    if model.get("warnings"):
        details += [message(warning) for warning in model["warnings"]]
    return Table(name, title, analysis, columns, rows, notes=list(notes) + details)


def risk_table(name, curves, *, analysis):
    """Numbers at risk at 0-5 years for each curve (label -> KM), as printed under a KM figure."""
    rows = []
    for group, km in curves.items():
        if not km or is_error(km):
            continue
        at_risk = {round(r["time_years"]): r["n_at_risk"] for r in km.get("risk_table") or []}
        rows.append(Row([group] + [str(at_risk.get(y, "-")) for y in RISK_YEARS]))
    return Table(f"risk_{name}", _("Number at risk"), analysis, [_("Years")] + [str(y) for y in RISK_YEARS], rows)


def curve_figure(name, title, analysis, curves, p=None, extra=""):
    """A Kaplan-Meier figure's caption and numbers at risk; ``curves``: group label -> KM."""
    parts = []
    for group, km in curves.items():
        if not km or is_error(km):
            continue
        at5 = at_year(km, 5)
        five = (
            _("5-year %(estimate)s") % {"estimate": pct(at5["survival"])}
            if at5.get("survival") is not None
            else _("5-year beyond follow-up")
        )
        parts.append(
            _("%(group)s: n = %(n)s, %(events)s events, %(five)s, median %(median)s years")
            % {"group": group, "n": km["n"], "events": km["n_events"], "five": five, "median": median_text(km)}
        )
    description = _("Kaplan-Meier curves with 95% confidence bands and censoring ticks.") + " " + "; ".join(parts) + "."
    if p is not None:
        description += " " + _("Log-rank %(p)s.") % {"p": format_p(p)}
    return Figure(name, title, analysis, description + extra, risk_table(name, curves, analysis=analysis))


def factor_figure(name, title, analysis, factor):
    p = None if is_error(factor["logrank"]) else factor["logrank"].get("p")
    curves = {label(group): km for group, km in factor_curves(factor).items()}
    return curve_figure(name, title, analysis, curves, p)


# --- the report -----------------------------------------------------------------------------


def missing(section, name):
    """``section`` with the message that analysis ``name`` has no stored result yet."""
    section.error = _("No stored result of the analysis '%(name)s' for this selection yet.") % {"name": name}
    return section


def numbered(sections):
    """The report of ``sections``, in this order, with its tables and figures numbered."""
    report = Report(list(sections))
    for number, table in enumerate(report.tables(), start=1):
        table.title = _("Table %(number)d. %(title)s") % {"number": number, "title": table.title}
    for number, figure in enumerate(report.figures(), start=1):
        figure.title = _("Figure %(number)d. %(title)s") % {"number": number, "title": figure.title}
    return report
