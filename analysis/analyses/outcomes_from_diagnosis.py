"""OS and EFS from diagnosis for the whole cohort, overall and by trial.

Frames from ``analysis.datasets`` (``os_from_diagnosis``, ``efs_from_diagnosis``): every
registered patient, from the date of diagnosis; EFS counts induction failure at day 0.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from .. import datasets, stats
from ..figures import factor_spec
from ..reports import Section, factor_figure, factor_table, is_error, missing, years
from .base import SCHEMA_VERSION, Analysis, by_factor, guard, km, register

NAME = "outcomes_from_diagnosis"


def outcomes_from_diagnosis(os_frame, efs_frame):
    """OS and EFS from diagnosis for the whole cohort, overall and by trial."""
    return {
        "schema": f"{NAME}/{SCHEMA_VERSION}",
        "os": {
            "n": int(len(os_frame)),
            "overall": km(os_frame),
            "by_trial": by_factor(os_frame, "trial", gettext_noop("Trial")),
        },
        "efs": {
            "n": int(len(efs_frame)),
            "events": "induction failure (day 0), relapse, death, second malignancy",
            "overall": km(efs_frame),
            "by_trial": by_factor(efs_frame, "trial", gettext_noop("Trial")),
        },
        "median_follow_up": guard(stats.reverse_km_median_followup, os_frame["time"], os_frame["event"]),
    }


def figure_specs(results):
    return {
        "os_by_trial": factor_spec(results["os"]["by_trial"], "OS from diagnosis by trial"),
        "efs_by_trial": factor_spec(results["efs"]["by_trial"], "EFS from diagnosis by trial"),
    }


def _from_diagnosis_section(results):
    section = Section(
        "diagnosis",
        _("Outcomes of all registered patients from diagnosis"),
        [NAME],
        intro=_("Overall and event-free survival of the whole cohort from diagnosis, by trial."),
    )
    if not results:
        return missing(section, NAME)
    os_, efs = results["os"], results["efs"]
    table = factor_table(
        "from_diagnosis",
        _("OS and EFS from diagnosis by trial"),
        NAME,
        [
            {**os_["by_trial"], "label": gettext_noop("Overall survival, by trial")},
            {**efs["by_trial"], "label": gettext_noop("Event-free survival, by trial")},
        ],
        endpoint=_("survival"),
        notes=[_("EFS events: induction failure (day 0), relapse, death, second malignancy.")],
    )
    follow_up = results.get("median_follow_up")
    if follow_up and not is_error(follow_up):
        median = years(follow_up["median_days"], 1)
        table.notes.append(
            _("Median follow-up from diagnosis %(median)s years (reverse Kaplan-Meier).") % {"median": median}
        )
    section.tables.append(table)
    section.figures.append(
        factor_figure("os_by_trial", _("Overall survival from diagnosis by trial"), NAME, os_["by_trial"])
    )
    section.figures.append(
        factor_figure("efs_by_trial", _("Event-free survival from diagnosis by trial"), NAME, efs["by_trial"])
    )
    return section


def report_sections(results):
    return [_from_diagnosis_section(results.get(NAME))]


ANALYSIS = register(
    Analysis(
        name=NAME,
        title=gettext_lazy("OS and EFS from diagnosis"),
        order=60,
        inputs=lambda course: {"os": datasets.os_from_diagnosis(course), "efs": datasets.efs_from_diagnosis(course)},
        compute=lambda frames: outcomes_from_diagnosis(frames["os"], frames["efs"]),
        figure_specs=figure_specs,
        report_sections=report_sections,
    )
)
