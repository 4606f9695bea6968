"""The paper's main analysis: overall survival after second-line treatment.

Population, origin and censoring are ``analysis.datasets.os_after_second_line``'s: recurrent or
refractory patients from the start of their first salvage line, death from any cause. Kaplan-
Meier overall and by each of the paper's univariate factors (log-rank), and the paper's
multivariable Cox model, which counts remission after salvage from the origin (see
``time_dependent`` for the model without immortal-time bias).
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from registry.course import WBC_HIGH, WBC_VERY_HIGH

from .. import datasets, stats
from ..figures import FigureSpec, factor_spec, forest_plot, format_p, km_plot, lower_first
from ..reports import Figure, Section, cox_table, factor_figure, factor_table, is_error, label, missing, num
from .base import SCHEMA_VERSION, Analysis, by_factor, guard, km, register

NAME = "os_after_second_line"
# The paper's univariate factors (columns of the OS-after-second-line frame), with labels.
UNIVARIATE_FACTORS = {
    "age_under_3_months": gettext_noop("Age at diagnosis < 3 months"),
    "cns_involvement": gettext_noop("CNS involvement (CNS3) at diagnosis"),
    "wbc_100_or_more": f"WBC >= {WBC_HIGH} x10^9/L",
    "wbc_300_or_more": f"WBC >= {WBC_VERY_HIGH} x10^9/L",
    "mll_partner": gettext_noop("MLL partner gene"),
    "first_remission": gettext_noop("Duration of first remission"),
    "relapse_site": gettext_noop("Site of relapse"),
    "salvage_remission": gettext_noop("Remission after salvage"),
    "hsct": gettext_noop("HSCT after recurrence"),
}
# The multivariable model of the paper: baseline factors plus remission after salvage.
COX_COVARIATES = {
    "age_under_3_months": gettext_noop("Age < 3 months"),
    "cns_involvement": gettext_noop("CNS involvement"),
    "wbc_100_or_more": f"WBC >= {WBC_HIGH} x10^9/L",
    "no_salvage_remission": gettext_noop("No remission after salvage"),
}


def os_after_second_line(frame):
    """OS after second-line treatment, univariate and Cox, from the ``datasets`` frame."""
    cox_frame = frame.assign(no_salvage_remission=1 - frame["salvage_remission"])
    return {
        "schema": f"{NAME}/{SCHEMA_VERSION}",
        "endpoint": "Overall survival after second-line treatment",
        "origin": "start of the first salvage line after relapse or induction failure",
        "n": int(len(frame)),
        "n_events": int(frame["event"].sum()) if len(frame) else 0,
        "overall": km(frame),
        "median_follow_up": guard(stats.reverse_km_median_followup, frame["time"], frame["event"]),
        "univariate": [by_factor(frame, factor, label) for factor, label in UNIVARIATE_FACTORS.items()],
        "cox": {
            "labels": COX_COVARIATES,
            "note": gettext_noop(
                "Remission after salvage is known only after the origin; see time_dependent for the bias-free model."
            ),
            "model": guard(stats.cox_model, cox_frame, "time", "event", list(COX_COVARIATES)),
        },
    }


def figure_specs(results):
    title = "OS after second-line treatment"
    specs = {
        "os_overall": FigureSpec(
            title,
            "Kaplan-Meier curve with 95% confidence band and censoring ticks; numbers at risk under the axis.",
            lambda: km_plot({"All patients": results["overall"]}, title=title),
        ),
    }
    for factor in results["univariate"]:
        specs[f"os_by_{factor['factor']}"] = factor_spec(factor, f"{title} by {lower_first(factor['label'])}")
    model = results["cox"]["model"]
    if "error" not in model:
        labels = results["cox"]["labels"]
        specs["cox_forest"] = FigureSpec(
            "Multivariable Cox model",
            "Forest plot: hazard ratio with 95% confidence interval for each term: "
            + "; ".join(labels.get(t["term"], t["term"]) for t in model.get("terms", []))
            + ".",
            lambda: forest_plot(model, labels, title="Multivariable Cox model", n=model.get("n")),
        )
    return specs


def _by_factor_section(os2):
    section = Section(
        "univariate",
        _("Overall survival after second-line treatment by factor"),
        [NAME],
        intro=_("Univariate comparisons (Kaplan-Meier, log-rank test) of the factors the paper examined."),
    )
    if not os2:
        return missing(section, NAME)
    section.tables.append(
        factor_table(
            "os_by_factor",
            _("OS after second-line treatment by factor"),
            NAME,
            os2["univariate"],
            notes=[
                _(
                    "Remission after salvage and HSCT happen after the time origin; their comparison here favours "
                    "them (immortal-time bias); see the time-dependent and landmark analyses below."
                )
            ],
        )
    )
    for factor in os2["univariate"]:
        section.figures.append(
            factor_figure(
                f"os_by_{factor['factor']}",
                _("OS after second-line treatment by %(factor)s") % {"factor": lower_first(label(factor["label"]))},
                NAME,
                factor,
            )
        )
    return section


def _cox_section(os2):
    section = Section(
        "cox",
        _("Multivariable Cox model"),
        [NAME],
        intro=_("The paper's model: baseline factors and remission after salvage as a fixed covariate."),
    )
    if not os2:
        return missing(section, NAME)
    cox = os2["cox"]
    section.tables.append(
        cox_table(
            "cox",
            _("Multivariable Cox model of OS after second-line treatment"),
            NAME,
            cox["model"],
            cox.get("labels") or COX_COVARIATES,
            notes=[label(cox.get("note", ""))],
        )
    )
    if not is_error(cox["model"]):
        labels = cox.get("labels") or COX_COVARIATES
        terms = "; ".join(
            f"{label(labels.get(t['term'], t['term']))}: HR {num(t.get('hazard_ratio'))} "
            f"(95% CI {num(t.get('lower'))}-{num(t.get('upper'))}), {format_p(t.get('p'))}"
            for t in cox["model"]["terms"]
        )
        section.figures.append(
            Figure(
                "cox_forest",
                _("Forest plot of the multivariable Cox model"),
                NAME,
                _("Hazard ratios with 95% confidence intervals on a log scale.") + f" {terms}.",
            )
        )
    return section


def report_sections(results):
    os2 = results.get(NAME)
    return [_by_factor_section(os2), _cox_section(os2)]


ANALYSIS = register(
    Analysis(
        name=NAME,
        title=gettext_lazy("Overall survival after second-line treatment"),
        order=30,
        inputs=lambda course: {"frame": datasets.os_after_second_line(course)},
        compute=lambda frames: os_after_second_line(frames["frame"]),
        figure_specs=figure_specs,
        report_sections=report_sections,
    )
)
