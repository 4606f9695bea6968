"""Figures drawn from stored results (never from raw data), as SVG text.

Kaplan-Meier curves are drawn as journals print them: step curves with pointwise confidence
bands, censoring ticks, the log-rank P on the plot and the numbers at risk in a table aligned
under the time axis. Time axes are in years.

Each analysis (``analysis.analyses``) gives, per figure name, a :class:`FigureSpec` whose
``draw()`` makes the matplotlib figure from these plots: runs store it as SVG (:func:`to_svg`),
and the report pages render the same drawing as PNG at print resolution (:func:`render`) or into
the PDF report.

Figures are drawn in English (their fonts have no Japanese glyphs): a run stores them once, for
every reader. The labels below are marked with ``gettext_noop`` so that the report's tables and
captions (``analysis.reports.label``) show them translated.
"""

import io
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

import matplotlib
import numpy as np
from django.utils.translation import gettext_noop

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from registry.choices import MLLPartner  # noqa: E402

DAYS_PER_YEAR = 365.25
COLORS = ["#1f4e79", "#c0504d", "#4f8a3c", "#8064a2", "#d68a00", "#2c9aa0"]
plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "mll-registry"})


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its title, a one-sentence description and how to draw it."""

    title: str
    description: str
    draw: callable


def _svg(fig, title=None, description=None):
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buffer.getvalue()
    if title:
        # A text alternative inside the SVG itself, for the downloaded file and screen readers.
        alt = f"<title>{escape(title)}</title>" + (f"<desc>{escape(description)}</desc>" if description else "")
        svg = re.sub(r"(<svg\b[^>]*>)", lambda m: m.group(1) + alt, svg, count=1)
        svg = svg.replace("<svg ", '<svg role="img" ', 1)
    return svg


def to_svg(spec):
    return _svg(spec.draw(), spec.title, spec.description)


def render(spec, fmt, *, dpi=300):
    """The figure as bytes: ``png`` or ``tiff`` (LZW-compressed, as journals take it) at ``dpi``,
    ``svg`` or ``pdf``."""
    fig = spec.draw()
    buffer = io.BytesIO()
    options = {"metadata": {"Date": None}} if fmt in ("svg", "pdf") else {}
    if fmt == "tiff":
        options["pil_kwargs"] = {"compression": "tiff_lzw"}
    fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight", **options)
    plt.close(fig)
    return buffer.getvalue()


def format_p(p):
    if p is None:
        return "P = n/a"
    return "P < 0.001" if p < 0.001 else f"P = {p:.3f}"


# Censoring ticks closer than 1/TICK_STEPS of the time axis print as one (the axis is about 330
# points wide in print: a tick a point wide at most twice per point).
TICK_STEPS = 600


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


def _step(ax, km, color, label, band=True, *, x_max_days):
    table, end = km["table"], _last_time(km)
    x, surv = _vertices(table, "survival", 1.0, end, x_max_days=x_max_days)
    ax.step(x, surv, where="post", color=color, label=label, linewidth=1.6)
    if band:
        _, lower = _vertices(table, "lower", 1.0, end, x_max_days=x_max_days, fill=0.0)
        _, upper = _vertices(table, "upper", 1.0, end, x_max_days=x_max_days, fill=0.0)
        ax.fill_between(x, lower, upper, step="post", color=color, alpha=0.15, linewidth=0)


def _last_time(km):
    """Where a curve ends: its last follow-up (results of older runs: the last censoring or event)."""
    if km.get("last_time") is not None:
        return km["last_time"]
    times = list(km["table"]["time"]) + list(km.get("censor_times") or [])
    return max(times) if times else 0.0


def _censor_ticks(ax, table, censor_times, color, *, x_max_days):
    """A tick on the curve at each censoring time on the axis: the step value at the last event
    time <= c (a sorted search over the curve's vertices, never a loop over patients); ticks
    closer than the figure's resolution drawn once."""
    censor = np.asarray(censor_times, dtype=float)
    censor = censor[censor <= x_max_days]
    if not len(censor):
        return
    step = x_max_days / DAYS_PER_YEAR / TICK_STEPS
    years = np.unique(np.round(censor / DAYS_PER_YEAR / step)) * step
    times = np.asarray(table["time"], dtype=float) / DAYS_PER_YEAR
    surv = np.concatenate([[1.0], np.asarray(table["survival"], dtype=float)])
    values = surv[np.searchsorted(times, years, side="right")]
    ax.plot(years, values, linestyle="none", marker="|", markersize=7, color=color)


def km_figure(curves, *, title, **kwargs):
    """Kaplan-Meier figure as SVG text (see :func:`km_plot`)."""
    return _svg(km_plot(curves, title=title, **kwargs), title)


MAX_BANDS = 2  # confidence bands only with one or two curves (else they smear; the CI is in the table)


def km_plot(curves, *, title, ylabel="Probability of survival", p_value=None, test_label="Log-rank"):
    """Kaplan-Meier figure with the numbers-at-risk table. ``curves``: label -> KM result dict,
    in the order to draw (the study's order of codes)."""
    curves = {label: km for label, km in curves.items() if km and "error" not in km and km.get("n")}
    rows = len(curves)
    fig, (ax, risk_ax) = plt.subplots(
        2, 1, figsize=(6.4, 4.4 + 0.22 * rows), gridspec_kw={"height_ratios": [4, 0.6 + 0.28 * rows]}
    )
    band = rows <= MAX_BANDS
    max_years = max([_last_time(km) / DAYS_PER_YEAR for km in curves.values()] or [0.0])
    x_max = max(5.0, min(10.0, max_years))
    for i, (label, km) in enumerate(curves.items()):
        color = COLORS[i % len(COLORS)]
        _step(ax, km, color, f"{label} (n = {km['n']})", band=band, x_max_days=x_max * DAYS_PER_YEAR)
        _censor_ticks(ax, km["table"], km.get("censor_times") or [], color, x_max_days=x_max * DAYS_PER_YEAR)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, x_max)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=10)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    if curves:
        # Beside the plot, never over a curve.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    if p_value is not None or rows > 1:
        ax.text(0.02, 0.04, f"{test_label} {format_p(p_value)}", transform=ax.transAxes)
    ticks = list(range(int(ax.get_xlim()[1]) + 1))
    ax.set_xticks(ticks)
    ax.set_xlabel("Years")
    # Numbers at risk: a header line of its own, then one row per curve aligned under the ticks.
    risk_ax.set_xlim(ax.get_xlim())
    risk_ax.set_ylim(-0.5, rows + 0.5)
    risk_ax.axis("off")
    risk_ax.text(0.0, rows, "Number at risk", ha="left", va="center", fontsize=8, fontweight="bold")
    for i, (label, km) in enumerate(curves.items()):
        row = rows - 1 - i
        at_risk = {round(r["time"] / DAYS_PER_YEAR): r["n_at_risk"] for r in km.get("risk_table") or []}
        risk_ax.text(
            -0.07,
            row,
            label,
            transform=risk_ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=8,
            color=COLORS[i % len(COLORS)],
        )
        for tick in ticks:
            if tick in at_risk:
                risk_ax.text(tick, row, str(at_risk[tick]), ha="center", va="center", fontsize=8)
    return fig


def cif_figure(curves, *, title, p_value=None):
    """Cumulative incidence figure as SVG text (see :func:`cif_plot`)."""
    return _svg(cif_plot(curves, title=title, p_value=p_value), title)


def cif_plot(curves, *, title, p_value=None):
    """Cumulative incidence (event of interest) figure. ``curves``: label -> CIF result dict."""
    curves = {label: c for label, c in curves.items() if c and "error" not in c}
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, (label, cif) in enumerate(curves.items()):
        table = cif["causes"]["1"]["table"]
        end = cif.get("last_time") if cif.get("last_time") is not None else max(table["time"] or [0.0])
        times, est = _vertices(table, "estimate", 0.0, end, x_max_days=5 * DAYS_PER_YEAR)
        ax.step(times, est, where="post", color=COLORS[i % len(COLORS)], label=f"{label} (n = {cif['n']})")
    ax.set_ylim(0, 1.0)
    ax.set_xlim(0, 5)
    ax.set_xlabel("Years")
    ax.set_ylabel("Cumulative incidence")
    ax.set_title(title, loc="left", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", frameon=False)
    if p_value is not None:
        ax.text(0.98, 0.05, f"Gray's test {format_p(p_value)}", transform=ax.transAxes, ha="right")
    return fig


def forest_figure(model, labels, *, title):
    """Forest plot as SVG text (see :func:`forest_plot`)."""
    return _svg(forest_plot(model, labels, title=title), title)


HR_TICKS = (0.25, 0.5, 1, 2, 4, 8)


def forest_plot(model, labels, *, title, n=None):
    """Forest plot of a Cox model as journals print it: one row per term with the hazard ratio and
    its 95% CI on a log axis marked 0.25 / 0.5 / 1 / 2 / 4 / 8, a reference line at 1, "lower /
    higher risk" under the axis, and columns with n, HR (95% CI) and P.

    Every term of the model gets a row; a term without a hazard ratio reads "not estimable".
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    terms = list((model or {}).get("terms", []))
    n_rows = max(1, len(terms))
    fig, ax = plt.subplots(figsize=(7.6, 1.4 + 0.42 * n_rows))
    fig.subplots_adjust(left=0.30, right=0.62, top=0.82, bottom=0.28)
    low, high = HR_TICKS[0], HR_TICKS[-1]
    columns = ((1.05, "HR (95% CI)"), (1.52, "P"))
    for x, header in columns:
        ax.text(x, n_rows - 0.35, header, transform=ax.get_yaxis_transform(), fontsize=9, fontweight="bold")
    for i, term in enumerate(reversed(terms)):
        hr, lo, hi = term.get("hazard_ratio"), term.get("lower"), term.get("upper")
        cells = ("not estimable", "")
        if hr is not None:
            if lo is not None and hi is not None:
                ax.plot([max(lo, low), min(hi, high)], [i, i], color="#1f4e79", linewidth=1.4)
                if hi > high or lo < low:  # an interval off the scale: arrows say so
                    ax.plot(
                        [min(hi, high)] if hi > high else [max(lo, low)],
                        [i],
                        marker=">" if hi > high else "<",
                        color="#1f4e79",
                        markersize=5,
                    )
                cells = (f"{hr:.2f} ({lo:.2f}-{hi:.2f})", format_p(term.get("p")).replace("P = ", "").replace("P ", ""))
            else:
                cells = (f"{hr:.2f} (CI n/a)", format_p(term.get("p")).replace("P = ", "").replace("P ", ""))
            if low <= hr <= high:
                ax.plot([hr], [i], marker="s", color="#1f4e79", markersize=6)
        for (x, _), text in zip(columns, cells, strict=True):
            ax.text(x, i, text, transform=ax.get_yaxis_transform(), va="center", fontsize=9)
    ax.axvline(1.0, color="#555555", linestyle="-", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(low / 1.15, high * 1.15)
    ax.xaxis.set_major_locator(FixedLocator(HR_TICKS))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{v:g}" for v in HR_TICKS])
    ax.set_ylim(-0.6, n_rows - 0.4)
    ax.set_yticks(range(len(terms)))
    ax.set_yticklabels([labels.get(t["term"], t["term"]) for t in reversed(terms)], fontsize=9)
    ax.set_xlabel("Hazard ratio (95% CI), log scale", fontsize=9)
    # Either side of the reference line (x in data units, y in axes units).
    ax.text(0.9, -0.42, "← lower risk", transform=ax.get_xaxis_transform(), ha="right", fontsize=8, color="#555555")
    ax.text(1.1, -0.42, "higher risk →", transform=ax.get_xaxis_transform(), ha="left", fontsize=8, color="#555555")
    heading = title if n is None else f"{title} (n = {n})"
    fig.suptitle(heading, x=0.02, ha="left", fontsize=10)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return fig


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
