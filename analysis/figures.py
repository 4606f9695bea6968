"""Figures drawn from stored results (never from raw data).

Kaplan-Meier curves are drawn as journals print them: step curves with pointwise confidence
bands, censoring ticks, the log-rank P on the plot and the numbers at risk in a table aligned
under the time axis. Time axes are in years.

What a figure shows is decided once, here: :func:`km_plot`, :func:`cif_plot` and
:func:`forest_plot` turn stored results into a small plain description (:class:`KMFigure`,
:class:`CIFFigure`, :class:`ForestFigure`: the curves' vertices, bands, censoring ticks, labels,
legend entries, the test's P, the numbers at risk, the forest rows). Two drawings read it:

* :func:`to_svg`, what a run stores: SVG text written directly (``analysis.svg``), a few
  milliseconds a figure whatever the cohort's size (the curves have a vertex per event time);
* :func:`render`: matplotlib, for PNG and TIFF at print resolution and the PDF report
  (``analysis.figure_text`` draws the same description with its text translated).

Each analysis (``analysis.analyses``) gives, per figure name, a :class:`FigureSpec` whose
``draw()`` returns such a description.

Figures are drawn in English: a run stores them once, for every reader, and
``analysis.figure_text`` translates them when they are served. The labels below are marked with
``gettext_noop`` so that the report's tables and captions (``analysis.reports.label``) show them
translated.
"""

import io
from dataclasses import dataclass, replace

import matplotlib
import numpy as np
from django.utils.translation import gettext_noop

from registry.choices import MLLPartner

from . import svg

# pyplot is imported only to draw (PNG, TIFF, PDF): a run writes its SVG without it.
matplotlib.use("Agg")
matplotlib.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "mll-registry"})

DAYS_PER_YEAR = 365.25
COLORS = ["#1f4e79", "#c0504d", "#4f8a3c", "#8064a2", "#d68a00", "#2c9aa0"]


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its title, a one-sentence description and how to draw it (``draw()`` returns a
    :class:`KMFigure`, :class:`CIFFigure` or :class:`ForestFigure`)."""

    title: str
    description: str
    draw: callable


def format_p(p):
    if p is None:
        return "P = n/a"
    return "P < 0.001" if p < 0.001 else f"P = {p:.3f}"


# --- what a figure shows ---------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    """One step curve (a step at each vertex, drawn "post"): ``years`` and ``values`` its vertices
    from the origin through the event times to the end of follow-up; ``band`` the (lower, upper)
    confidence limits at the same vertices, or None; ``ticks`` the censoring ticks (years, value
    on the curve)."""

    label: str
    color: str
    years: np.ndarray
    values: np.ndarray
    band: tuple | None = None
    ticks: tuple | None = None


@dataclass(frozen=True)
class RiskRow:
    """One row of the numbers at risk: its group's label and colour, and a count (or None) under
    each tick of the time axis."""

    label: str
    color: str
    counts: tuple


class _StepFigure:
    """What the step-curve figures share: integer year ticks up to ``x_max``; their texts translated."""

    @property
    def ticks(self):
        return tuple(range(int(self.x_max) + 1))

    def translated(self, translate):
        """The same figure with each text passed through ``translate``."""
        return replace(
            self,
            title=translate(self.title),
            xlabel=translate(self.xlabel),
            ylabel=translate(self.ylabel),
            test=self.test and translate(self.test),
            curves=tuple(replace(c, label=translate(c.label)) for c in self.curves),
        )


@dataclass(frozen=True)
class KMFigure(_StepFigure):
    """A Kaplan-Meier figure: curves (their labels are the legend's entries, beside the plot), the
    test and its P on the plot (or None), the numbers at risk under the integer year ticks."""

    title: str
    ylabel: str
    x_max: float
    curves: tuple
    test: str | None
    risk_rows: tuple
    xlabel: str = "Years"
    risk_heading: str = "Number at risk"

    def translated(self, translate):
        """The same figure with each text passed through ``translate``."""
        return replace(
            super().translated(translate),
            risk_heading=translate(self.risk_heading),
            risk_rows=tuple(replace(r, label=translate(r.label)) for r in self.risk_rows),
        )


@dataclass(frozen=True)
class CIFFigure(_StepFigure):
    """A cumulative incidence figure: step curves from 0 over five years (legend inside the plot,
    upper left), Gray's test and its P (or None) at the lower right."""

    title: str
    curves: tuple
    test: str | None
    x_max: float = 5.0
    xlabel: str = "Years"
    ylabel: str = "Cumulative incidence"


@dataclass(frozen=True)
class ForestRow:
    """One term of a Cox model: its hazard ratio (the square, None if off the scale or not
    estimable), its 95% CI as a line cut at the scale's ends (None if not drawn) with an arrow at
    an end that was cut ("<", ">"), and the texts of the HR (95% CI) and P columns."""

    label: str
    hr_text: str
    p_text: str
    square: float | None = None
    line: tuple | None = None
    arrows: str = ""


HR_TICKS = (0.25, 0.5, 1, 2, 4, 8)


@dataclass(frozen=True)
class ForestFigure:
    """A forest plot: one row per term, top to bottom in the model's order, on a log axis marked
    :data:`HR_TICKS` with a reference line at 1; squares, lines and arrows in ``color``."""

    heading: str
    rows: tuple
    color: str = COLORS[0]
    ticks: tuple = HR_TICKS
    columns: tuple = ("HR (95% CI)", "P")
    xlabel: str = "Hazard ratio (95% CI), log scale"
    lower_risk: str = "← lower risk"
    higher_risk: str = "higher risk →"

    @property
    def limits(self):
        """The axis' ends: a margin beyond the first and last tick (log scale)."""
        return self.ticks[0] / 1.15, self.ticks[-1] * 1.15

    def translated(self, translate):
        return replace(
            self,
            heading=translate(self.heading),
            columns=tuple(translate(c) for c in self.columns),
            xlabel=translate(self.xlabel),
            lower_risk=translate(self.lower_risk),
            higher_risk=translate(self.higher_risk),
            rows=tuple(
                replace(r, label=translate(r.label), hr_text=translate(r.hr_text), p_text=translate(r.p_text))
                for r in self.rows
            ),
        )


# --- from stored results ---------------------------------------------------------------------

# Censoring ticks closer than 1/TICK_STEPS of the time axis print as one (the axis is about 330
# points wide in print: a tick a point wide at most twice per point).
TICK_STEPS = 600
MAX_BANDS = 2  # confidence bands only with one or two curves (else they smear; the CI is in the table)


def _vertices(table, column, start, end_days, *, x_max_days, fill=None):
    """The step function's vertices in years, from ``start`` at 0 through its event times to the
    end of follow-up, cut at the axis' end (what lies beyond is never seen)."""
    times = np.asarray(table["time"], dtype=float)
    values = np.asarray([fill if v is None else v for v in table[column]] if fill is not None else table[column], float)
    end = min(max(end_days or 0.0, times[-1] if len(times) else 0.0), x_max_days)
    shown = times <= end
    x = np.concatenate([[0.0], times[shown], [end]]) / DAYS_PER_YEAR
    y = np.concatenate([[start], values[shown], [values[shown][-1] if shown.any() else start]])
    return x, y


def _last_time(km):
    """Where a curve ends: its last follow-up (results of older runs: the last censoring or event)."""
    if km.get("last_time") is not None:
        return km["last_time"]
    times = list(km["table"]["time"]) + list(km.get("censor_times") or [])
    return max(times) if times else 0.0


def _censor_ticks(table, censor_times, *, x_max_days):
    """Censoring ticks (years, value): on the curve at each censoring time on the axis, the step
    value at the last event time <= c (a sorted search over the curve's vertices, never a loop over
    patients); ticks closer than the figure's resolution given once."""
    censor = np.asarray(censor_times, dtype=float)
    censor = censor[censor <= x_max_days]
    if not len(censor):
        return np.empty(0), np.empty(0)
    step = x_max_days / DAYS_PER_YEAR / TICK_STEPS
    years = np.unique(np.round(censor / DAYS_PER_YEAR / step)) * step
    times = np.asarray(table["time"], dtype=float) / DAYS_PER_YEAR
    surv = np.concatenate([[1.0], np.asarray(table["survival"], dtype=float)])
    return years, surv[np.searchsorted(times, years, side="right")]


def _km_curve(km, label, color, *, band, x_max_days):
    table, end = km["table"], _last_time(km)
    x, surv = _vertices(table, "survival", 1.0, end, x_max_days=x_max_days)
    limits = None
    if band:
        _, lower = _vertices(table, "lower", 1.0, end, x_max_days=x_max_days, fill=0.0)
        _, upper = _vertices(table, "upper", 1.0, end, x_max_days=x_max_days, fill=0.0)
        limits = (lower, upper)
    ticks = _censor_ticks(table, km.get("censor_times") or [], x_max_days=x_max_days)
    return Curve(f"{label} (n = {km['n']})", color, x, surv, band=limits, ticks=ticks)


def km_plot(curves, *, title, ylabel="Probability of survival", p_value=None, test_label="Log-rank"):
    """Kaplan-Meier figure with the numbers-at-risk table. ``curves``: label -> KM result dict,
    in the order to draw (the study's order of codes). The time axis runs over the follow-up,
    5 to 10 years."""
    curves = {label: km for label, km in curves.items() if km and "error" not in km and km.get("n")}
    band = len(curves) <= MAX_BANDS
    max_years = max([_last_time(km) / DAYS_PER_YEAR for km in curves.values()] or [0.0])
    x_max = max(5.0, min(10.0, max_years))
    ticks = range(int(x_max) + 1)
    drawn, rows = [], []
    for i, (label, km) in enumerate(curves.items()):
        color = COLORS[i % len(COLORS)]
        drawn.append(_km_curve(km, label, color, band=band, x_max_days=x_max * DAYS_PER_YEAR))
        at_risk = {round(r["time"] / DAYS_PER_YEAR): r["n_at_risk"] for r in km.get("risk_table") or []}
        rows.append(RiskRow(label, color, tuple(at_risk.get(tick) for tick in ticks)))
    test = f"{test_label} {format_p(p_value)}" if p_value is not None or len(curves) > 1 else None
    return KMFigure(title, ylabel, x_max, tuple(drawn), test, tuple(rows))


def cif_plot(curves, *, title, p_value=None):
    """Cumulative incidence (event of interest) figure. ``curves``: label -> CIF result dict."""
    curves = {label: c for label, c in curves.items() if c and "error" not in c}
    drawn = []
    for i, (label, cif) in enumerate(curves.items()):
        table = cif["causes"]["1"]["table"]
        end = cif.get("last_time") if cif.get("last_time") is not None else max(table["time"] or [0.0])
        years, estimate = _vertices(table, "estimate", 0.0, end, x_max_days=5 * DAYS_PER_YEAR)
        drawn.append(Curve(f"{label} (n = {cif['n']})", COLORS[i % len(COLORS)], years, estimate))
    return CIFFigure(title, tuple(drawn), f"Gray's test {format_p(p_value)}" if p_value is not None else None)


def forest_plot(model, labels, *, title, n=None):
    """Forest plot of a Cox model as journals print it: one row per term with the hazard ratio and
    its 95% CI on a log axis marked 0.25 / 0.5 / 1 / 2 / 4 / 8, a reference line at 1, "lower /
    higher risk" under the axis, and columns with HR (95% CI) and P; the title with n.

    Every term of the model gets a row; a term without a hazard ratio reads "not estimable".
    """
    low, high = HR_TICKS[0], HR_TICKS[-1]
    rows = []
    for term in (model or {}).get("terms", []):
        label = labels.get(term["term"], term["term"])
        hr, lo, hi = term.get("hazard_ratio"), term.get("lower"), term.get("upper")
        if hr is None:
            rows.append(ForestRow(label, "not estimable", ""))
            continue
        p_text = format_p(term.get("p")).replace("P = ", "").replace("P ", "")
        square = hr if low <= hr <= high else None
        if lo is None or hi is None:
            rows.append(ForestRow(label, f"{hr:.2f} (CI n/a)", p_text, square=square))
            continue
        arrows = ("<" if lo < low else "") + (">" if hi > high else "")  # an interval off the scale
        line = (max(lo, low), min(hi, high))
        rows.append(ForestRow(label, f"{hr:.2f} ({lo:.2f}-{hi:.2f})", p_text, square, line, arrows))
    return ForestFigure(title if n is None else f"{title} (n = {n})", tuple(rows))


# --- drawn ------------------------------------------------------------------------------------

_SVG_WRITERS = {KMFigure: svg.km, CIFFigure: svg.cif, ForestFigure: svg.forest}


def to_svg(spec):
    """The figure as SVG text, as a run stores it: written from its description, with its title
    and description inside (``<title>``, ``<desc>``) for screen readers and the downloaded file."""
    figure = spec.draw()
    return _SVG_WRITERS[type(figure)](figure, title=spec.title, description=spec.description)


def render(spec, fmt, *, dpi=300):
    """The figure as bytes: ``png`` or ``tiff`` (LZW-compressed, as journals take it) at ``dpi``,
    ``svg`` or ``pdf``, drawn by matplotlib."""
    import matplotlib.pyplot as plt

    fig = to_matplotlib(spec.draw())
    buffer = io.BytesIO()
    options = {"metadata": {"Date": None}} if fmt in ("svg", "pdf") else {}
    if fmt == "tiff":
        options["pil_kwargs"] = {"compression": "tiff_lzw"}
    fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight", **options)
    plt.close(fig)
    return buffer.getvalue()


def to_matplotlib(figure):
    """A matplotlib figure drawing ``figure`` (a :class:`KMFigure`, :class:`CIFFigure` or
    :class:`ForestFigure`); the caller closes it."""
    import matplotlib.pyplot as plt

    drawers = {KMFigure: _draw_km, CIFFigure: _draw_cif, ForestFigure: _draw_forest}
    return drawers[type(figure)](figure, plt)


def _draw_curve(ax, curve, linewidth):
    ax.step(curve.years, curve.values, where="post", color=curve.color, label=curve.label, linewidth=linewidth)
    if curve.band is not None:
        lower, upper = curve.band
        ax.fill_between(curve.years, lower, upper, step="post", color=curve.color, alpha=0.15, linewidth=0)
    if curve.ticks is not None and len(curve.ticks[0]):
        ax.plot(*curve.ticks, linestyle="none", marker="|", markersize=7, color=curve.color)


def _draw_km(figure, plt):
    rows = len(figure.risk_rows)
    fig, (ax, risk_ax) = plt.subplots(
        2, 1, figsize=(6.4, 4.4 + 0.22 * rows), gridspec_kw={"height_ratios": [4, 0.6 + 0.28 * rows]}
    )
    for curve in figure.curves:
        _draw_curve(ax, curve, 1.6)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, figure.x_max)
    ax.set_ylabel(figure.ylabel)
    ax.set_title(figure.title, loc="left", fontsize=10)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    if figure.curves:
        # Beside the plot, never over a curve.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    if figure.test:
        ax.text(0.02, 0.04, figure.test, transform=ax.transAxes)
    ax.set_xticks(figure.ticks)
    ax.set_xlabel(figure.xlabel)
    # Numbers at risk: a header line of its own, then one row per curve aligned under the ticks.
    risk_ax.set_xlim(ax.get_xlim())
    risk_ax.set_ylim(-0.5, rows + 0.5)
    risk_ax.axis("off")
    risk_ax.text(0.0, rows, figure.risk_heading, ha="left", va="center", fontsize=8, fontweight="bold")
    for i, row in enumerate(figure.risk_rows):
        y = rows - 1 - i
        axis = risk_ax.get_yaxis_transform()
        risk_ax.text(-0.07, y, row.label, transform=axis, ha="right", va="center", fontsize=8, color=row.color)
        for tick, count in zip(figure.ticks, row.counts, strict=True):
            if count is not None:
                risk_ax.text(tick, y, str(count), ha="center", va="center", fontsize=8)
    return fig


def _draw_cif(figure, plt):
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for curve in figure.curves:
        _draw_curve(ax, curve, 1.5)
    ax.set_ylim(0, 1.0)
    ax.set_xlim(0, figure.x_max)
    ax.set_xticks(figure.ticks)
    ax.set_xlabel(figure.xlabel)
    ax.set_ylabel(figure.ylabel)
    ax.set_title(figure.title, loc="left", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    if figure.curves:
        ax.legend(loc="upper left", frameon=False)
    if figure.test:
        ax.text(0.98, 0.05, figure.test, transform=ax.transAxes, ha="right")
    return fig


def _draw_forest(figure, plt):
    from matplotlib.ticker import FixedLocator, NullLocator

    n_rows = max(1, len(figure.rows))
    fig, ax = plt.subplots(figsize=(7.6, 1.4 + 0.42 * n_rows))
    fig.subplots_adjust(left=0.30, right=0.62, top=0.82, bottom=0.28)
    columns = list(zip((1.05, 1.52), figure.columns, strict=True))
    for x, header in columns:
        ax.text(x, n_rows - 0.35, header, transform=ax.get_yaxis_transform(), fontsize=9, fontweight="bold")
    for i, row in enumerate(reversed(figure.rows)):
        if row.line is not None:
            ax.plot(row.line, [i, i], color=figure.color, linewidth=1.4)
        for arrow in row.arrows:
            x = row.line[0] if arrow == "<" else row.line[1]
            ax.plot([x], [i], marker=arrow, color=figure.color, markersize=5)
        if row.square is not None:
            ax.plot([row.square], [i], marker="s", color=figure.color, markersize=6)
        for (x, _), text in zip(columns, (row.hr_text, row.p_text), strict=True):
            ax.text(x, i, text, transform=ax.get_yaxis_transform(), va="center", fontsize=9)
    ax.axvline(1.0, color="#555555", linestyle="-", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(*figure.limits)
    ax.xaxis.set_major_locator(FixedLocator(figure.ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{v:g}" for v in figure.ticks])
    ax.set_ylim(-0.6, n_rows - 0.4)
    ax.set_yticks(range(len(figure.rows)))
    ax.set_yticklabels([row.label for row in reversed(figure.rows)], fontsize=9)
    ax.set_xlabel(figure.xlabel, fontsize=9)
    # Either side of the reference line (x in data units, y in axes units).
    axis = ax.get_xaxis_transform()
    ax.text(0.9, -0.42, figure.lower_risk, transform=axis, ha="right", fontsize=8, color="#555555")
    ax.text(1.1, -0.42, figure.higher_risk, transform=axis, ha="left", fontsize=8, color="#555555")
    fig.suptitle(figure.heading, x=0.02, ha="left", fontsize=10)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return fig


# --- labels -----------------------------------------------------------------------------------

# Readable names for the levels of 0/1 factors (curve legends, risk tables, report tables).
GROUP_LABELS = {
    "age_under_3_months": {"1": gettext_noop("Age < 3 months"), "0": gettext_noop("Age >= 3 months")},
    "cns_involvement": {"1": gettext_noop("CNS3"), "0": gettext_noop("No CNS3")},
    "wbc_100_or_more": {"1": gettext_noop("WBC >= 100"), "0": gettext_noop("WBC < 100")},
    "wbc_300_or_more": {"1": gettext_noop("WBC >= 300"), "0": gettext_noop("WBC < 300")},
    "salvage_remission": {"1": gettext_noop("Remission after salvage"), "0": gettext_noop("No remission")},
    "hsct": {"1": gettext_noop("HSCT"), "0": gettext_noop("No HSCT")},
    "hsct_by_landmark": {"1": gettext_noop("HSCT by the landmark"), "0": gettext_noop("No HSCT by then")},
    "remission_by_landmark": {
        "1": gettext_noop("Remission by the landmark"),
        "0": gettext_noop("No remission by then"),
    },
    "mll_partner": {"OTHER": gettext_noop("Other partner"), "UNKNOWN": gettext_noop("Unknown partner")},
}


def lower_first(label):
    """'Age at diagnosis' -> 'age at diagnosis'; acronyms ('CNS involvement', 'HSCT') stay."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def group_label(factor, level):
    label = GROUP_LABELS.get(factor, {}).get(str(level), str(level))
    return label[:1].upper() + label[1:]


# Levels in the study's order of codes (as the case report form lists them), not alphabetically.
LEVEL_ORDER = {"mll_partner": [code for code, _ in MLLPartner.choices]}


def _level_key(factor, level):
    order = LEVEL_ORDER.get(factor)
    if order and level in order:
        return (0, order.index(level), level)
    # 0/1 factors: "1" (the adverse or treated level) first, so colours agree across figures.
    return (1, level != "1", level)


def factor_curves(factor):
    curves = factor["curves"].get("groups", {}) if "error" not in factor["curves"] else {}
    ordered = sorted(curves, key=lambda level: _level_key(factor["factor"], level))
    return {group_label(factor["factor"], level): curves[level] for level in ordered}


def _factor_p(factor):
    return factor["logrank"].get("p") if "error" not in factor["logrank"] else None


def factor_spec(factor, title):
    p = _factor_p(factor)
    description = (
        f"Kaplan-Meier curves by {lower_first(factor['label'])} with 95% confidence bands and censoring ticks; "
        f"log-rank {format_p(p)}; numbers at risk under the time axis."
    )
    return FigureSpec(title, description, lambda: km_plot(factor_curves(factor), title=title, p_value=p))


def cif_spec(curves, title, description, p_value=None):
    return FigureSpec(title, description, lambda: cif_plot(curves, title=title, p_value=p_value))
