"""Who was registered and what happened to them: the paper's 'Results' paragraph.

Counts by trial and center, relapses and induction failures (recurrent or refractory as the
course frame defines it), the duration of first remission, remission after salvage with its
exact confidence interval, transplants after recurrence by disease status, deaths. The report
shows it with the OS estimates of ``os_after_second_line``, in the outcome table.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry import course as facts

from .. import stats
from ..reports import (
    Row,
    Section,
    Table,
    at_year,
    ci,
    curve_figure,
    is_error,
    median_text,
    message,
    missing,
    survival_text,
    years,
)
from .base import SCHEMA_VERSION, Analysis, course_only, guard, median_range, register

NAME = "cohort_summary"


def cohort_summary(course):
    """The counts of the paper's 'Results' paragraph, from the course frame."""
    n = facts.counts(course)
    relapsed = course["relapse1_date"].notna()
    return {
        "schema": f"{NAME}/{SCHEMA_VERSION}",
        "n_registered": n["n_registered"],
        "by_trial": {str(k): int(v) for k, v in course["trial"].value_counts().sort_index().items()},
        "by_center": {str(k): int(v) for k, v in course["center"].value_counts().sort_index().items()},
        "n_relapsed": n["n_relapsed"],
        "n_induction_failure": n["n_induction_failure"],
        "n_recurrent_or_refractory": n["n_recurrent_or_refractory"],
        "n_with_second_line": n["n_with_second_line"],
        "first_remission_months": median_range(course.loc[relapsed, "first_remission_months"]),
        "salvage_remission": guard(stats.binomial_proportion, n["n_salvage_remission"], n["n_salvage_evaluable"])
        if n["n_salvage_evaluable"]
        else {"error": "no patient with an evaluable salvage response"},
        "transplants_after_recurrence": {
            "n": n["n_hsct_after_recurrence"],
            "in_remission": n["n_hsct_in_remission"],
            "not_in_remission": n["n_hsct_not_in_remission"],
            "unknown": n["n_hsct_unknown"],
        },
        "n_dead": n["n_dead"],
    }


def outcome_table(summary, os2):
    """The outcome table: salvage remission, transplants, OS at 1/3/5 years, median follow-up."""
    rows = [
        Row([_("Registered patients"), str(summary["n_registered"]), ""]),
        Row([_("Relapse after first remission (CR1)"), str(summary["n_relapsed"]), ""]),
        Row([_("Induction failure"), str(summary["n_induction_failure"]), ""]),
        Row([_("Recurrent or refractory"), str(summary["n_recurrent_or_refractory"]), ""]),
    ]
    fr = summary["first_remission_months"]
    if fr["n"]:
        rows.append(
            Row(
                [
                    _("Duration of first remission, months, median (range)"),
                    f"{fr['median']:.1f} ({fr['min']:.0f}-{fr['max']:.0f})",
                    f"n = {fr['n']}",
                ]
            )
        )
    salvage = summary["salvage_remission"]
    if is_error(salvage):
        rows.append(Row([_("Remission after salvage therapy"), "-", message(salvage["error"])]))
    else:
        rows.append(
            Row(
                [
                    _("Remission after salvage therapy"),
                    f"{salvage['successes']}/{salvage['n']} ({salvage['percent']:.1f}%)",
                    _("95%% CI %(ci)s (exact)") % {"ci": ci(salvage["lower"], salvage["upper"])},
                ]
            )
        )
    hsct = summary["transplants_after_recurrence"]
    rows += [
        Row([_("HSCT after recurrence"), str(hsct["n"]), ""]),
        Row([_("HSCT in remission"), str(hsct["in_remission"]), ""]),
        Row([_("HSCT not in remission"), str(hsct["not_in_remission"]), ""]),
        Row([_("HSCT with disease status unknown"), str(hsct["unknown"]), ""]),
    ]
    overall = os2["overall"] if os2 else None
    if overall and not is_error(overall):
        for year in (1, 3, 5):
            at = at_year(overall, year)
            measure = _("%(year)d-year OS after second-line treatment") % {"year": year}
            if not at or at.get("survival") is None:
                rows.append(Row([measure, survival_text(at), ""]))
                continue
            note = _("95%% CI %(ci)s; %(n)s at risk") % {"ci": ci(at["lower"], at["upper"]), "n": at["n_at_risk"]}
            rows.append(Row([measure, survival_text(at), note]))
        rows.append(
            Row([_("Median OS after second-line treatment, years"), median_text(overall), _("95% CI in brackets")])
        )
    follow_up = os2.get("median_follow_up") if os2 else None
    if follow_up and not is_error(follow_up):
        rows.append(
            Row(
                [
                    _("Median follow-up after second-line treatment, years"),
                    years(follow_up["median_days"], 1),
                    _("reverse Kaplan-Meier"),
                ]
            )
        )
    return Table(
        "outcomes",
        _("Outcome after recurrence or induction failure"),
        "os_after_second_line",
        [_("Measure"), _("Value"), _("Note")],
        rows,
        text_columns=(2,),
        notes=[
            _(
                "OS: overall survival from the start of second-line (salvage) treatment, Kaplan-Meier estimate "
                "SE: Greenwood standard error; 95% confidence intervals on the log scale."
            )
        ],
    )


def report_sections(results):
    """The outcome table (with the OS estimates of ``os_after_second_line``) and the OS curve."""
    summary, os2 = results.get(NAME), results.get("os_after_second_line")
    section = Section("outcomes", _("Outcome after recurrence"), [NAME, "os_after_second_line"])
    if summary:
        table = outcome_table(summary, os2)
        table.analysis, table.also_from = NAME, ("os_after_second_line",) if os2 else ()
        section.tables.append(table)
    else:
        missing(section, NAME)
    if os2 and not is_error(os2["overall"]):
        section.figures.append(
            curve_figure(
                "os_overall",
                _("Overall survival after second-line treatment"),
                "os_after_second_line",
                {_("All patients"): os2["overall"]},
            )
        )
    return [section]


ANALYSIS = register(
    Analysis(
        name=NAME,
        title=gettext_lazy("Cohort summary"),
        order=20,
        inputs=course_only,
        compute=lambda frames: cohort_summary(frames["course"]),
        report_sections=report_sections,
    )
)
