"""The reproducibility package of a report: the data, the numbers, and scripts that recompute them.

``build_package`` gives a ZIP holding the de-identified analysis data set of the report's patients
(``data/*.csv``, every event, no dates), ``expected.json`` (every number the report shows, read
from the stored runs, with how it is computed), ``reproduce.R`` (R's survival and cmprsk,
independent of the registry's code) and ``reproduce.py`` (pandas and the registry's pure
statistics functions, shipped in ``stats/``). ``Rscript reproduce.R`` prints how many numbers it
reproduced and exits non-zero on any difference; so does ``python reproduce.py``.
"""

import io
import json
import zipfile
from pathlib import Path

from django.utils.translation import gettext as _

HERE = Path(__file__).resolve().parent
TOLERANCE = 1e-6
YEARS = {365.25: 1, 1095.75: 3, 1826.25: 5}


def _where(analysis, endpoint, factor, level):
    return f"{analysis}.{endpoint}.{factor or 'all'}={level or 'all'}"


def _years(days):
    return f"{YEARS[days]}y" if days in YEARS else f"{days}d"


def _km_numbers(out, analysis, endpoint, km, factor=None, level=None):
    if not km or "error" in km:
        return
    for at in km.get("at_times", []):
        for what in ("survival", "std_err"):
            if at.get(what) is not None:
                out.append(
                    {
                        "id": f"{_where(analysis, endpoint, factor, level)}.{what}@{_years(at['time'])}",
                        "kind": "km",
                        "endpoint": endpoint,
                        "factor": factor,
                        "level": level,
                        "time": at["time"],
                        "what": what,
                        "value": at[what],
                    }
                )
    median = (km.get("median") or {}).get("time")
    if median is not None:
        out.append(
            {
                "id": f"{_where(analysis, endpoint, factor, level)}.median",
                "kind": "median",
                "endpoint": endpoint,
                "factor": factor,
                "level": level,
                "value": median,
            }
        )


def _factor_numbers(out, analysis, endpoint, factor):
    curves = factor.get("curves") or {}
    for level, km in (curves.get("groups") or {}).items():
        _km_numbers(out, analysis, endpoint, km, factor["factor"], level)
    logrank = factor.get("logrank") or {}
    if logrank.get("chi2") is not None and "error" not in logrank:
        out.append(
            {
                "id": f"{analysis}.{endpoint}.{factor['factor']}.logrank_chi2",
                "kind": "logrank",
                "endpoint": endpoint,
                "factor": factor["factor"],
                "value": logrank["chi2"],
            }
        )


def _cox_numbers(out, analysis, model_name, model):
    if not model or "error" in model:
        return
    for term in model.get("terms", []):
        if term.get("possibly_infinite"):
            continue
        for what in ("coef", "se"):
            if term.get(what) is not None:
                out.append(
                    {
                        "id": f"{analysis}.{model_name}.{term['term']}.{what}",
                        "kind": "cox",
                        "model": model_name,
                        "term": term["term"],
                        "what": what,
                        "value": term[what],
                    }
                )


def _cif_numbers(out, analysis, endpoint, cif, group=None, level=None):
    if not cif or "error" in cif:
        return
    for at in cif["causes"]["1"]["at_times"]:
        if at.get("estimate") is not None and not at.get("beyond_follow_up"):
            out.append(
                {
                    "id": f"{_where(analysis, endpoint, group, level)}.cif@{_years(at['time'])}",
                    "kind": "cif",
                    "endpoint": endpoint,
                    "group": group,
                    "level": level,
                    "time": at["time"],
                    "value": at["estimate"],
                }
            )


def _regimen_numbers(out, code, group):
    """A row of remission after salvage by regimen: ``code`` "" for the lines not coded yet, None
    for all lines together."""
    where = "all" if code is None else f"regimen={code or '(not coded)'}"
    values = {key: group[key] for key in ("n_lines", "n_patients", "n_second_line", "n_evaluable")}
    remission = group["remission"]
    if "error" not in remission:
        values.update({key: remission[key] for key in ("successes", "proportion", "lower", "upper")})
    for key, value in values.items():
        out.append(
            {
                "id": f"salvage_regimens.{where}.{key}",
                "kind": "salvage_regimen",
                "regimen_code": code,
                "what": key,
                "value": value,
            }
        )


def expected_numbers(results):
    """Every number of the report, from the stored results ``{analysis name: results}``: each with
    an ``id``, its ``value`` and the recipe (kind, endpoint, factor, level, time...) the scripts
    follow to compute it again."""
    out = []
    summary = results.get("cohort_summary")
    if summary:
        for key in (
            "n_registered",
            "n_relapsed",
            "n_induction_failure",
            "n_recurrent_or_refractory",
            "n_with_second_line",
            "n_dead",
        ):
            out.append({"id": f"cohort_summary.{key}", "kind": "count", "what": key, "value": summary[key]})
        for key, value in summary["transplants_after_recurrence"].items():
            out.append(
                {
                    "id": f"cohort_summary.hsct_after_recurrence.{key}",
                    "kind": "count",
                    "what": f"hsct_{key}",
                    "value": value,
                }
            )
        salvage = summary["salvage_remission"]
        if "error" not in salvage:
            for key in ("successes", "n", "lower", "upper"):
                out.append(
                    {
                        "id": f"cohort_summary.salvage_remission.{key}",
                        "kind": "salvage",
                        "what": key,
                        "value": salvage[key],
                    }
                )
        for key in ("n", "median", "min", "max"):
            if summary["first_remission_months"].get(key) is not None:
                out.append(
                    {
                        "id": f"cohort_summary.first_remission_months.{key}",
                        "kind": "first_remission",
                        "what": key,
                        "value": summary["first_remission_months"][key],
                    }
                )
    chars = results.get("patient_characteristics")
    if chars:
        for variable in chars["variables"]:
            for group in chars["groups"]:
                if variable["kind"] == "categorical":
                    for level in variable["levels"]:
                        out.append(
                            {
                                "id": f"patient_characteristics.{variable['variable']}={level['level']}.{group}",
                                "kind": "characteristic",
                                "variable": variable["variable"],
                                "level": level["level"],
                                "group": group,
                                "value": level["counts"][group],
                            }
                        )
                elif variable["summary"][group].get("median") is not None:
                    out.append(
                        {
                            "id": f"patient_characteristics.{variable['variable']}.median.{group}",
                            "kind": "characteristic_median",
                            "variable": variable["variable"],
                            "group": group,
                            "value": variable["summary"][group]["median"],
                        }
                    )
    os2 = results.get("os_after_second_line")
    if os2:
        _km_numbers(out, "os_after_second_line", "os2", os2["overall"])
        for factor in os2["univariate"]:
            _factor_numbers(out, "os_after_second_line", "os2", factor)
        _cox_numbers(out, "os_after_second_line", "os2_cox", os2["cox"]["model"])
        follow = os2.get("median_follow_up") or {}
        if follow.get("median_days") is not None:
            out.append(
                {
                    "id": "os_after_second_line.median_follow_up",
                    "kind": "follow_up",
                    "endpoint": "os2",
                    "value": follow["median_days"],
                }
            )
    regimens = results.get("salvage_regimens")
    if regimens:
        for group in [*regimens["regimens"], {"regimen_code": None, **regimens["overall"]}]:
            _regimen_numbers(out, group["regimen_code"], group)
    td = results.get("time_dependent")
    if td:
        _cox_numbers(out, "time_dependent", "td_cox", td["time_dependent_cox"]["model"])
        sm = (td.get("simon_makuch") or {}).get("curves") or {}
        for state, curve in (sm.get("groups") or {}).items():
            _km_numbers(out, "time_dependent", "simon_makuch", curve, "hsct", state)
        landmark = td["landmark"]
        if "error" not in landmark:
            for key in ("by_hsct", "by_remission"):
                _factor_numbers(out, "time_dependent", "landmark", landmark[key])
            _cox_numbers(out, "time_dependent", "landmark_cox", landmark["cox"])
    cr = results.get("competing_risks")
    if cr:
        ri = cr["relapse_incidence"]
        _cif_numbers(out, "competing_risks", "relapse", ri["overall"])
        for level, cif in (ri.get("by_group") or {}).items():
            _cif_numbers(out, "competing_risks", "relapse", cif, ri.get("group"), level)
        gray = ri.get("grays_test") or {}
        if gray.get("chi2") is not None and "error" not in gray:
            out.append(
                {
                    "id": "competing_risks.relapse.grays_test_chi2",
                    "kind": "gray",
                    "endpoint": "relapse",
                    "group": ri.get("group"),
                    "value": gray["chi2"],
                }
            )
        _cif_numbers(out, "competing_risks", "nrm", cr["non_relapse_mortality"]["overall"])
    dx = results.get("outcomes_from_diagnosis")
    if dx:
        for endpoint in ("os", "efs"):
            _km_numbers(out, "outcomes_from_diagnosis", f"{endpoint}_dx", dx[endpoint]["overall"])
            _factor_numbers(out, "outcomes_from_diagnosis", f"{endpoint}_dx", dx[endpoint]["by_trial"])
        follow = dx.get("median_follow_up") or {}
        if follow.get("median_days") is not None:
            out.append(
                {
                    "id": "outcomes_from_diagnosis.median_follow_up",
                    "kind": "follow_up",
                    "endpoint": "os_dx",
                    "value": follow["median_days"],
                }
            )
    return out


def build_package(*, results, runs, tables, selection):
    """The ZIP: ``tables`` (name -> CSV bytes of the analysis data set), ``expected.json`` with the
    ``runs`` (id, name, fingerprint, code version) the numbers come from, the two scripts, and the
    registry's statistics functions for the Python script."""
    expected = {
        "selection": selection,
        "tolerance": TOLERANCE,
        "runs": runs,
        "numbers": expected_numbers(results),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in tables.items():
            archive.writestr(f"data/{name}.csv", content)
        archive.writestr("expected.json", json.dumps(expected, indent=1, sort_keys=True))
        archive.writestr("reproduce.R", (HERE / "reproduce" / "reproduce.R").read_bytes())
        archive.writestr("reproduce.py", (HERE / "reproduce" / "reproduce.py").read_bytes())
        archive.writestr("README.txt", (HERE / "reproduce" / "README.txt").read_bytes())
        for path in sorted((HERE / "stats").glob("*.py")):
            archive.writestr(f"stats/{path.name}", path.read_bytes())
    return buffer.getvalue()


class DataChangedSinceRuns(Exception):
    """The registry's data for the selection are no longer those the stored runs read."""


def package_for(*, user, parameters, cut=None, source="page"):
    """(ZIP bytes, file name) of the reproducibility package of the report on ``parameters`` (the
    newest successful run of each report analysis the user may read, on the live data or at the
    data cut ``cut``, whose frozen copy is then the data set), or None without runs.

    The data set is exported for the same patients the runs read, and only if their data still
    give each run's fingerprint; otherwise ``DataChangedSinceRuns`` (recompute first). The
    download is logged in ``ExportLog`` like every export of the analysis data set.
    """
    import hashlib

    from django.utils import timezone

    from registry.course import read_tables
    from registry.cuts import snapshot
    from registry.models import ExportLog
    from registry.transfer.exports import analysis_set, writers

    from . import analyses, course_table, datasets, runs
    from .models import AnalysisRun

    found = {}
    for name in analyses.REPORT_ANALYSES:
        run = (
            AnalysisRun.objects.for_user(user)
            .filter(name=name, status=AnalysisRun.Status.SUCCEEDED, parameters=parameters, data_cut=cut)
            .order_by("-finished_at")
            .first()
        )
        if run is not None:
            found[name] = run
    if not found:
        return None
    tables = snapshot.tables(cut.snapshot, parameters) if cut else read_tables(runs.cohort(parameters))
    # The course frame of these rows, as the runs read it from the course table (equal: same dtypes).
    course = course_table.build(tables)
    fingerprint = datasets.fingerprint(course)
    for name, run in found.items():
        if fingerprint != run.fingerprint:
            raise DataChangedSinceRuns(
                _(
                    "The registry's data changed since the stored run of %(name)s (run %(run)s); "
                    "recompute the report first."
                )
                % {"name": name, "run": run.pk}
            )
    frames = analysis_set.analysis_tables(tables=tables)
    tables = {name: writers.write_csv(*analysis_set.records(frame)) for name, frame in frames.items()}
    selection = ", ".join(f"{k} {v}" for k, v in parameters.items()) or "the whole study"
    if cut is not None:
        selection += f", at data cut {cut.name} (fingerprint {cut.fingerprint})"
    run_list = [
        {
            "analysis": name,
            "run": run.pk,
            "finished": run.finished_at.isoformat(),
            "fingerprint": run.fingerprint,
            "code_version": run.code_version,
        }
        for name, run in found.items()
    ]
    content = build_package(
        results={name: run.results for name, run in found.items()}, runs=run_list, tables=tables, selection=selection
    )
    suffix = "-".join([*parameters.values(), *([f"cut{cut.pk}"] if cut else [])]) or "study"
    file_name = f"mll-reproducibility-{suffix}-{timezone.now():%Y%m%d}.zip"
    ExportLog.objects.create(
        user=user,
        kind="reproducibility",
        file_format="zip",
        file_name=file_name,
        n_patients=len(frames["patients"]),
        sha256=hashlib.sha256(content).hexdigest(),
        source=source,
    )
    return content, file_name
