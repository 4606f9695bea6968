"""Figures drawn from stored results (never from raw data), as SVG text.

Kaplan-Meier curves are drawn as journals print them: step curves with pointwise confidence
bands, censoring ticks, the log-rank P on the plot and the numbers at risk in a table aligned
under the time axis. Time axes are in years.
"""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DAYS_PER_YEAR = 365.25
COLORS = ["#1f4e79", "#c0504d", "#4f8a3c", "#8064a2", "#d68a00", "#2c9aa0"]
plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "mll-registry"})


def _svg(fig):
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buffer.getvalue()


def _format_p(p):
    if p is None:
        return "P = n/a"
    return "P < 0.001" if p < 0.001 else f"P = {p:.3f}"


def _step(ax, table, color, label, band=True):
    times = [0.0] + [t / DAYS_PER_YEAR for t in table["time"]]
    surv = [1.0] + list(table["survival"])
    ax.step(times, surv, where="post", color=color, label=label, linewidth=1.6)
    if band:
        lower = [1.0] + [v if v is not None else 0.0 for v in table["lower"]]
        upper = [1.0] + [v if v is not None else 0.0 for v in table["upper"]]
        ax.fill_between(times, lower, upper, step="post", color=color, alpha=0.15, linewidth=0)


def _censor_ticks(ax, table, censor_times, color):
    times = list(table["time"])
    surv = list(table["survival"])
    xs, ys = [], []
    for c in censor_times:
        value = 1.0
        for t, s in zip(times, surv, strict=True):
            if t <= c:
                value = s
        xs.append(c / DAYS_PER_YEAR)
        ys.append(value)
    ax.plot(xs, ys, linestyle="none", marker="|", markersize=7, color=color)


def km_figure(curves, *, title, ylabel="Probability of survival", p_value=None, test_label="Log-rank"):
    """Kaplan-Meier figure with the numbers-at-risk table. ``curves``: label -> KM result dict."""
    curves = {label: km for label, km in curves.items() if km and "error" not in km and km.get("n")}
    fig, (ax, risk_ax) = plt.subplots(
        2, 1, figsize=(6.4, 4.2 + 0.22 * len(curves)), gridspec_kw={"height_ratios": [4, 0.35 + 0.25 * len(curves)]}
    )
    max_years = 0.0
    for i, (label, km) in enumerate(curves.items()):
        color = COLORS[i % len(COLORS)]
        table = km["table"]
        _step(ax, table, color, f"{label} (n = {km['n']})")
        _censor_ticks(ax, table, km.get("censor_times") or [], color)
        if table["time"]:
            max_years = max(max_years, table["time"][-1] / DAYS_PER_YEAR)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, max(5.0, min(10.0, max_years)))
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=10)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    if len(curves) > 1 or curves:
        ax.legend(loc="upper right", frameon=False)
    if p_value is not None or len(curves) > 1:
        ax.text(0.02, 0.05, f"{test_label} {_format_p(p_value)}", transform=ax.transAxes)
    ticks = [t for t in range(int(ax.get_xlim()[1]) + 1)]
    ax.set_xticks(ticks)
    ax.set_xlabel("Years")
    # Numbers at risk, aligned under the time axis ticks.
    risk_ax.set_xlim(ax.get_xlim())
    risk_ax.set_ylim(-0.5, len(curves) - 0.5)
    risk_ax.axis("off")
    risk_ax.text(-0.02, len(curves) - 0.3, "Number at risk", transform=risk_ax.get_yaxis_transform(), ha="right",
                 fontsize=8, fontweight="bold")
    for i, (label, km) in enumerate(curves.items()):
        row = len(curves) - 1 - i
        at_risk = {round(r["time"] / DAYS_PER_YEAR): r["n_at_risk"] for r in km.get("risk_table") or []}
        risk_ax.text(-0.02, row - 0.2, label, transform=risk_ax.get_yaxis_transform(), ha="right", fontsize=8,
                     color=COLORS[i % len(COLORS)])
        for tick in ticks:
            if tick in at_risk:
                risk_ax.text(tick, row - 0.2, str(at_risk[tick]), ha="center", fontsize=8)
    return _svg(fig)


def cif_figure(curves, *, title, p_value=None):
    """Cumulative incidence (event of interest) figure. ``curves``: label -> CIF result dict."""
    curves = {label: c for label, c in curves.items() if c and "error" not in c}
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, (label, cif) in enumerate(curves.items()):
        table = cif["causes"]["1"]["table"]
        times = [0.0] + [t / DAYS_PER_YEAR for t in table["time"]]
        est = [0.0] + list(table["estimate"])
        ax.step(times, est, where="post", color=COLORS[i % len(COLORS)], label=f"{label} (n = {cif['n']})")
    ax.set_ylim(0, 1.0)
    ax.set_xlim(0, 5)
    ax.set_xlabel("Years")
    ax.set_ylabel("Cumulative incidence")
    ax.set_title(title, loc="left", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", frameon=False)
    if p_value is not None:
        ax.text(0.98, 0.05, f"Gray's test {_format_p(p_value)}", transform=ax.transAxes, ha="right")
    return _svg(fig)


def forest_figure(model, labels, *, title):
    """Forest plot of a Cox model: hazard ratio and 95% CI per term, log scale."""
    terms = [t for t in (model or {}).get("terms", []) if t.get("hazard_ratio") is not None]
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.45 * max(1, len(terms))))
    for i, term in enumerate(reversed(terms)):
        lo, hi = term.get("lower"), term.get("upper")
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [i, i], color="#1f4e79", linewidth=1.4)
        ax.plot([term["hazard_ratio"]], [i], marker="s", color="#1f4e79")
        ax.text(1.02, i, f"{term['hazard_ratio']:.2f} ({lo or 0:.2f}-{hi or 0:.2f}), {_format_p(term.get('p'))}",
                transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.axvline(1.0, color="#888888", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(terms)))
    ax.set_yticklabels([labels.get(t["term"], t["term"]) for t in reversed(terms)])
    ax.set_xlabel("Hazard ratio (95% CI)")
    ax.set_title(title, loc="left", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def _factor_figure(factor, title):
    curves = factor["curves"].get("groups", {}) if "error" not in factor["curves"] else {}
    p = factor["logrank"].get("p") if "error" not in factor["logrank"] else None
    return km_figure(curves, title=title, p_value=p)


def os_after_second_line_figures(results):
    figures = {
        "os_overall": km_figure({"All patients": results["overall"]}, title="OS after second-line treatment"),
    }
    for factor in results["univariate"]:
        figures[f"os_by_{factor['factor']}"] = _factor_figure(factor, f"OS after second-line treatment by {factor['label'].lower()}")
    model = results["cox"]["model"]
    if "error" not in model:
        figures["cox_forest"] = forest_figure(model, results["cox"]["labels"], title="Multivariable Cox model")
    return figures


def time_dependent_figures(results):
    figures = {}
    landmark = results["landmark"]
    if "error" not in landmark:
        figures["landmark_by_hsct"] = _factor_figure(
            landmark["by_hsct"], f"OS from {landmark['landmark_days']} days after salvage start, by HSCT by then"
        )
        figures["landmark_by_remission"] = _factor_figure(
            landmark["by_remission"], f"OS from {landmark['landmark_days']} days after salvage start, by remission by then"
        )
    return figures


def competing_risks_figures(results):
    figures = {}
    relapse = results["relapse_incidence"]
    if "error" not in relapse["overall"]:
        figures["relapse_incidence"] = cif_figure({"All in CR1": relapse["overall"]}, title="Cumulative incidence of relapse")
    if relapse.get("by_group"):
        gray = relapse.get("grays_test", {})
        figures["relapse_incidence_by_trial"] = cif_figure(
            relapse["by_group"], title="Cumulative incidence of relapse by trial",
            p_value=gray.get("p") if "error" not in gray else None,
        )
    nrm = results["non_relapse_mortality"]
    if "error" not in nrm["overall"]:
        figures["non_relapse_mortality"] = cif_figure({"Transplanted": nrm["overall"]}, title="Non-relapse mortality after HSCT")
    return figures


def outcomes_from_diagnosis_figures(results):
    return {
        "os_by_trial": _factor_figure(results["os"]["by_trial"], "OS from diagnosis by trial"),
        "efs_by_trial": _factor_figure(results["efs"]["by_trial"], "EFS from diagnosis by trial"),
    }
