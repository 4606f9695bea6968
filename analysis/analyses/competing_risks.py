"""Competing risks: cumulative incidence of relapse from CR1, non-relapse mortality after HSCT.

Relapse and death in remission compete (and, after HSCT, death without relapse and relapse):
Aalen-Johansen cumulative incidence, by trial with Gray's test. Frames from
``analysis.datasets`` (``relapse_incidence``, ``non_relapse_mortality_after_hsct``).
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import datasets, stats
from ..figures import cif_spec, format_p
from ..reports import Figure, Row, Section, Table, ci, is_error, message, missing, p_value, pct
from .base import FIXED_TIMES, SCHEMA_VERSION, Analysis, guard, register

NAME = "competing_risks"


def _cif(frame, group=None):
    out = {
        "overall": guard(stats.cumulative_incidence, frame["time"], frame["event_type"], times=FIXED_TIMES),
    }
    if group is not None:
        groups = frame[group].astype(str)
        out["group"] = group
        out["by_group"] = {
            str(level): guard(stats.cumulative_incidence, sub["time"], sub["event_type"], times=FIXED_TIMES)
            for level, sub in frame.groupby(groups)
        }
        out["grays_test"] = guard(stats.grays_test, frame["time"], frame["event_type"], groups)
    return out


def competing_risks(relapse_frame, nrm_frame):
    """Cumulative incidence of relapse (death in remission competing) and NRM after HSCT."""
    return {
        "schema": f"{NAME}/{SCHEMA_VERSION}",
        "relapse_incidence": {
            "population": "patients in first remission, from the date of CR1",
            "event": "relapse",
            "competing": "death in remission",
            "n": int(len(relapse_frame)),
            **_cif(relapse_frame, "trial"),
        },
        "non_relapse_mortality": {
            "population": "transplanted patients, from the first HSCT",
            "event": "death without relapse",
            "competing": "relapse",
            "n": int(len(nrm_frame)),
            **_cif(nrm_frame),
        },
    }


def figure_specs(results):
    specs = {}
    relapse = results["relapse_incidence"]
    if "error" not in relapse["overall"]:
        specs["relapse_incidence"] = cif_spec(
            {"All in CR1": relapse["overall"]},
            "Cumulative incidence of relapse",
            "Cumulative incidence of relapse from CR1 (Aalen-Johansen), death in remission competing.",
        )
    if relapse.get("by_group"):
        gray = relapse.get("grays_test", {})
        p = gray.get("p") if "error" not in gray else None
        specs["relapse_incidence_by_trial"] = cif_spec(
            relapse["by_group"],
            "Cumulative incidence of relapse by trial",
            f"Cumulative incidence of relapse by trial; Gray's test {format_p(p)}.",
            p,
        )
    nrm = results["non_relapse_mortality"]
    if "error" not in nrm["overall"]:
        specs["non_relapse_mortality"] = cif_spec(
            {"Transplanted": nrm["overall"]},
            "Non-relapse mortality after HSCT",
            "Cumulative incidence of death without relapse after the first HSCT, relapse competing.",
        )
    return specs


def _cif_rows(group, cif):
    if is_error(cif):
        return [Row([group, "-", "-", "-", "-", message(cif["error"])])]
    cause = cif["causes"]["1"]
    cells = [group, str(cif["n"])]
    for year in (1, 3, 5):
        at = next((e for e in cause.get("at_times", []) if round(e.get("time_years") or 0) == year), {})
        cells.append(
            _("beyond follow-up")
            if at.get("estimate") is None or at.get("beyond_follow_up")
            else f"{pct(at['estimate'])} ({ci(at.get('lower'), at.get('upper'))})"
        )
    cells.append("")
    return [Row(cells)]


def competing_risks_table(results):
    relapse, nrm = results["relapse_incidence"], results["non_relapse_mortality"]
    columns = [
        _("Endpoint / group"),
        "n",
        _("1 year (95% CI)"),
        _("3 years (95% CI)"),
        _("5 years (95% CI)"),
        _("Gray's test P"),
    ]
    rows = [Row([_("Relapse (death in remission competing), from CR1"), "", "", "", "", ""], heading=True)]
    rows += _cif_rows(_("All patients in CR1"), relapse["overall"])
    gray = relapse.get("grays_test") or {}
    for i, (level, cif) in enumerate(sorted((relapse.get("by_group") or {}).items())):
        group_rows = _cif_rows(_("Trial %(trial)s") % {"trial": level}, cif)
        if i == 0 and not is_error(gray):
            group_rows[0].cells[-1] = p_value(gray.get("p"))
        rows += group_rows
    heading = _("Non-relapse mortality (relapse competing), from the first HSCT")
    rows.append(Row([heading, "", "", "", "", ""], heading=True))
    rows += _cif_rows(_("Transplanted patients"), nrm["overall"])
    return Table(
        "competing_risks",
        _("Cumulative incidence of relapse and of non-relapse mortality"),
        NAME,
        columns,
        rows,
        notes=[
            _(
                "Aalen-Johansen estimates with 95% confidence intervals; competing events are not "
                "censored (1 - Kaplan-Meier would overstate the incidence)."
            )
        ],
    )


def _competing_section(results):
    section = Section(
        "competing",
        _("Relapse and non-relapse mortality"),
        [NAME],
        intro=_(
            "Relapse and death in remission compete: cumulative incidence (Aalen-Johansen), compared with Gray's test."
        ),
    )
    if not results:
        return missing(section, NAME)
    section.tables.append(competing_risks_table(results))
    relapse, nrm = results["relapse_incidence"], results["non_relapse_mortality"]
    if not is_error(relapse["overall"]):
        section.figures.append(
            Figure(
                "relapse_incidence",
                _("Cumulative incidence of relapse"),
                NAME,
                _("Cumulative incidence of relapse from first remission, %(n)s patients, death in remission competing.")
                % {"n": relapse["n"]},
            )
        )
    if relapse.get("by_group"):
        gray = relapse.get("grays_test") or {}
        section.figures.append(
            Figure(
                "relapse_incidence_by_trial",
                _("Cumulative incidence of relapse by trial"),
                NAME,
                _("Cumulative incidence of relapse by trial; Gray's test %(p)s.")
                % {"p": format_p(None if is_error(gray) else gray.get("p"))},
            )
        )
    if not is_error(nrm["overall"]):
        section.figures.append(
            Figure(
                "non_relapse_mortality",
                _("Non-relapse mortality after HSCT"),
                NAME,
                _(
                    "Cumulative incidence of death without relapse after the first HSCT, %(n)s patients, "
                    "relapse competing."
                )
                % {"n": nrm["n"]},
            )
        )
    return section


def report_sections(results):
    return [_competing_section(results.get(NAME))]


ANALYSIS = register(
    Analysis(
        name=NAME,
        title=gettext_lazy("Cumulative incidence of relapse; non-relapse mortality after HSCT"),
        order=40,
        inputs=lambda course: {
            "relapse": datasets.relapse_incidence(course),
            "nrm": datasets.non_relapse_mortality_after_hsct(course),
        },
        compute=lambda frames: competing_risks(frames["relapse"], frames["nrm"]),
        figure_specs=figure_specs,
        report_sections=report_sections,
    )
)
