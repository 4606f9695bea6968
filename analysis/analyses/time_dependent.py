"""Corrections for immortal-time bias: HSCT and remission as time-dependent covariates, a landmark.

Remission after salvage and HSCT happen after the start of second-line treatment. The Cox model
here counts them from the day they happen, on the counting-process split of the OS-after-second-
line frame (``analysis.datasets.counting_process``, the split checked against R); the landmark
analysis compares only patients alive ``LANDMARK_DAYS`` after the start of salvage, by their
status on that day.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from .. import datasets, stats
from ..figures import FigureSpec, factor_curves, factor_spec, km_plot
from ..reports import Section, cox_table, curve_figure, factor_figure, factor_table, label, message, missing
from .base import SCHEMA_VERSION, Analysis, by_factor, guard, register
from .os_after_second_line import COX_COVARIATES

NAME = "time_dependent"
LANDMARK_DAYS = 180


def time_dependent(frame, counting_process):
    """Time-dependent Cox model on the counting-process frame, and the landmark analysis."""
    baseline = frame.set_index("patient_id")[["age_under_3_months", "cns_involvement"]]
    cp = counting_process.join(baseline, on="patient_id")
    landmark = guard(
        stats.landmark_frame,
        frame,
        LANDMARK_DAYS,
        duration_col="time",
        event_col="event",
        status_from={"hsct_by_landmark": "hsct_days", "remission_by_landmark": "salvage_remission_days"},
    )
    result = {
        "schema": f"{NAME}/{SCHEMA_VERSION}",
        "time_dependent_cox": {
            "covariates": ["hsct", "salvage_remission", "age_under_3_months", "cns_involvement"],
            "explanation": gettext_noop(
                "HSCT and remission after salvage switch on at the day they happen, so the time a patient "
                "waited for them alive is not credited to them (no immortal-time bias)."
            ),
            "model": guard(
                stats.cox_time_varying,
                cp,
                "patient_id",
                "start",
                "stop",
                "event",
                ["hsct", "salvage_remission", "age_under_3_months", "cns_involvement"],
            ),
        },
        "simon_makuch": {
            "explanation": gettext_noop(
                "Kaplan-Meier curves in which a patient counts as untransplanted until the day of HSCT and as "
                "transplanted from then on (Simon-Makuch)."
            ),
            "curves": guard(stats.simon_makuch, cp, "start", "stop", "event", "hsct", id_col="patient_id"),
        },
        "landmark": {"landmark_days": LANDMARK_DAYS},
    }
    if isinstance(landmark, dict):
        result["landmark"]["error"] = landmark["error"]
        return result
    result["landmark"].update(
        {
            "n": int(len(landmark)),
            "n_excluded": int(landmark.attrs.get("n_excluded", 0)),
            "explanation": (
                f"Only patients alive and followed {LANDMARK_DAYS} days after the start of salvage are compared, "
                "by their HSCT and remission status on that day."
            ),
            "by_hsct": by_factor(landmark, "hsct_by_landmark", gettext_noop("HSCT by the landmark")),
            "by_remission": by_factor(landmark, "remission_by_landmark", gettext_noop("Remission by the landmark")),
            "cox": guard(stats.cox_model, landmark, "time", "event", ["hsct_by_landmark", "remission_by_landmark"]),
        }
    )
    return result


SIMON_MAKUCH_TITLE = gettext_noop("OS after second-line treatment by HSCT as a time-dependent state (Simon-Makuch)")


def _simon_makuch_factor(results):
    """The Simon-Makuch curves in the shape of a factor comparison (no log-rank: the time-dependent
    Cox model tests HSCT)."""
    sm = results.get("simon_makuch") or {}
    curves = sm.get("curves") or {"error": "not computed"}
    hsct = gettext_noop("HSCT (time-dependent)")
    return {"factor": "hsct", "label": hsct, "curves": curves, "logrank": {"error": "none"}}


def figure_specs(results):
    specs = {}
    if "error" not in _simon_makuch_factor(results)["curves"]:
        factor = _simon_makuch_factor(results)
        specs["simon_makuch_by_hsct"] = FigureSpec(
            SIMON_MAKUCH_TITLE,
            "Simon-Makuch curves: a patient counts as untransplanted until the day of HSCT; 95% confidence "
            "bands, censoring ticks and numbers at risk (in each state) under the time axis.",
            lambda: km_plot(factor_curves(factor), title=SIMON_MAKUCH_TITLE),
        )
    landmark = results["landmark"]
    if "error" not in landmark:
        days = landmark["landmark_days"]
        specs["landmark_by_hsct"] = factor_spec(
            landmark["by_hsct"], f"OS from {days} days after salvage start, by HSCT by then"
        )
        specs["landmark_by_remission"] = factor_spec(
            landmark["by_remission"], f"OS from {days} days after salvage start, by remission by then"
        )
    return specs


def _corrections_section(results):
    section = Section(
        "corrections",
        _("Correcting for immortal-time bias"),
        [NAME],
        intro=_(
            "Remission after salvage and HSCT happen after the start of second-line treatment, so a patient must "
            "survive long enough to receive them. Counting them from the start (as Table 3 and Table 4 do) credits "
            "that waiting time to the treated group and makes them look better than they are (immortal-time bias). "
            "The time-dependent Cox model counts a patient as untreated until the day of HSCT or remission; the "
            "landmark analysis compares only patients alive %(days)s days after the start of salvage, by "
            "their status on that day."
        )
        % {"days": LANDMARK_DAYS},
    )
    if not results:
        return missing(section, NAME)
    td = results["time_dependent_cox"]
    labels = {
        "hsct": gettext_noop("HSCT (time-dependent)"),
        "salvage_remission": gettext_noop("Remission after salvage (time-dependent)"),
        **COX_COVARIATES,
    }
    section.tables.append(
        cox_table(
            "time_dependent_cox",
            _("Cox model with HSCT and remission as time-dependent covariates"),
            NAME,
            td["model"],
            labels,
            notes=[label(td.get("explanation", ""))],
        )
    )
    factor = _simon_makuch_factor(results)
    if "error" not in factor["curves"]:
        section.figures.append(
            curve_figure(
                "simon_makuch_by_hsct",
                _(SIMON_MAKUCH_TITLE),
                NAME,
                {label(group): km for group, km in factor_curves(factor).items()},
                extra=" " + label(results["simon_makuch"]["explanation"]),
            )
        )
    landmark = results["landmark"]
    if "error" in landmark:
        section.error = _("Landmark analysis: %(error)s") % {"error": message(landmark["error"])}
        return section
    lm_labels = {
        "hsct_by_landmark": gettext_noop("HSCT by the landmark"),
        "remission_by_landmark": gettext_noop("Remission by the landmark"),
    }
    days = landmark["landmark_days"]
    table = factor_table(
        "landmark",
        _("Landmark analysis at %(days)s days after the start of salvage") % {"days": days},
        NAME,
        [landmark["by_hsct"], landmark["by_remission"]],
        notes=[
            _(
                "Only patients alive and followed %(days)s days after the start of salvage are compared, "
                "by their HSCT and remission status on that day."
            )
            % {"days": days},
            _("%(n)s patients at the landmark; %(excluded)s died or were censored before it.")
            % {"n": landmark["n"], "excluded": landmark["n_excluded"]},
        ],
    )
    section.tables.append(table)
    section.tables.append(
        cox_table(
            "landmark_cox",
            _("Cox model from the landmark"),
            NAME,
            landmark["cox"],
            lm_labels,
        )
    )
    section.figures.append(
        factor_figure(
            "landmark_by_hsct",
            _("OS from %(days)s days after the start of salvage, by HSCT by then") % {"days": days},
            NAME,
            landmark["by_hsct"],
        )
    )
    section.figures.append(
        factor_figure(
            "landmark_by_remission",
            _("OS from %(days)s days after the start of salvage, by remission by then") % {"days": days},
            NAME,
            landmark["by_remission"],
        )
    )
    return section


def report_sections(results):
    return [_corrections_section(results.get(NAME))]


def _inputs(course):
    frame = datasets.os_after_second_line(course)
    return {"frame": frame, "counting_process": datasets.counting_process(frame)}


ANALYSIS = register(
    Analysis(
        name=NAME,
        title=gettext_lazy("HSCT and remission as time-dependent covariates; landmark analysis"),
        order=50,
        inputs=_inputs,
        compute=lambda frames: time_dependent(frames["frame"], frames["counting_process"]),
        figure_specs=figure_specs,
        report_sections=report_sections,
    )
)
