"""Report pages: the study dashboard and the outcome report, read from stored analysis runs.

No statistics are computed here. The dashboard's counts are a few set-based aggregate
queries scoped by ``Patient.objects.for_user``; the outcome report reads the newest successful
stored runs for the selected trial and center (``AnalysisRun.parameters``), builds its tables
once per set of runs (``analysis.analyses.build_report``, cached by run id) and shows the runs' stored SVG
figures. The page therefore costs the same whatever the number of patients.

Who sees what (the rules are ``registry.access``'s, the runs a user reads
``AnalysisRun.objects.for_user``): everyone with a role sees the dashboard of their centers;
investigators, data managers and admins see outcome reports, a center-scoped investigator only
for their center; investigators and admins may recompute. Coordinators get no outcome report.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import ExtractYear
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from registry import access, course
from registry.choices import VitalStatus
from registry.models import Center, DataRevision, FollowUp, Patient, SalvageLine
from registry.ops import handoff

from . import analyses, figures, report_files, reproducibility, runs
from .models import AnalysisRun

PENDING = (AnalysisRun.Status.QUEUED, AnalysisRun.Status.RUNNING)
RUN_FIELDS = (
    "id",
    "name",
    "status",
    "parameters",
    "created_at",
    "finished_at",
    "n_patients",
    "data_revision",
    "fingerprint",
    "code_version",
    "reused_from",
)
REPORT_CACHE_SECONDS = 24 * 3600
FIGURE_NAME = re.compile(r"^[a-z0-9_]{1,60}$")
FIGURE_FORMATS = {"svg": "image/svg+xml", "png": "image/png", "tiff": "image/tiff"}
NO_FOLLOW_UP_DAYS = 365


# --- selection: trial and center --------------------------------------------------------------


class ReportFilterForm(forms.Form):
    trial = forms.ChoiceField(
        label="Trial", required=False, choices=[("", "MLL96 and MLL98")] + [(t, t) for t in runs.TRIALS]
    )
    center = forms.ChoiceField(label="Center", required=False)

    def __init__(self, *args, centers, all_centers, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(c.code, f"{c.code} {c.name}") for c in centers]
        self.fields["center"].choices = ([("", "All centers")] if all_centers else []) + choices


def _selection(request, data=None):
    """(form, parameters) for the request; a center outside the user's scope is a 404."""
    data = request.GET if data is None else data
    scope = access.center_scope(request.user)
    all_centers = scope is None
    centers = Center.objects.all() if all_centers else Center.objects.filter(pk__in=scope)
    centers = list(centers.only("code", "name"))
    codes = {c.code for c in centers}
    asked = data.get("center") or ""
    if asked and asked not in codes:
        raise Http404("No such center.")
    values = {"trial": data.get("trial") or "", "center": asked or ("" if all_centers else next(iter(codes), ""))}
    form = ReportFilterForm(values, centers=centers, all_centers=all_centers)
    if not form.is_valid():
        raise Http404("No such trial.")
    if not all_centers and not codes:
        raise access.NotYourRole(access.NO_CENTER)
    return form, runs.normalize_parameters(form.cleaned_data)


def _describe(parameters):
    trial = parameters.get("trial") or "MLL96 and MLL98"
    center = parameters.get("center") or "all centers"
    return f"{trial}, {center}"


def _query(parameters):
    return urlencode(parameters)


# --- provenance -----------------------------------------------------------------------------


@dataclass
class Provenance:
    run_id: int
    analysis: str
    finished: datetime
    n_patients: int
    fingerprint: str
    data_revision: int
    code_version: str
    reused_from: int
    selection: str
    stale: bool

    @property
    def short_fingerprint(self):
        return self.fingerprint[:12]


def _provenance(run, current_revision, selection):
    return Provenance(
        run_id=run.pk,
        analysis=run.name,
        finished=run.finished_at,
        n_patients=run.n_patients,
        fingerprint=run.fingerprint,
        data_revision=run.data_revision,
        code_version=run.code_version,
        reused_from=run.reused_from_id,
        selection=selection,
        stale=run.data_revision is not None and current_revision > run.data_revision,
    )


def _latest_runs(user, parameters):
    """Newest successful run per report analysis for ``parameters``; metadata only (no JSON)."""
    found = {}
    for name in analyses.REPORT_ANALYSES:
        found[name] = (
            AnalysisRun.objects.for_user(user)
            .filter(name=name, status=AnalysisRun.Status.SUCCEEDED, parameters=parameters)
            .only(*RUN_FIELDS)
            .order_by("-finished_at")
            .first()
        )
    return found


def _pending_runs(user, parameters):
    """Runs of the selection still in hand (queued, or running on a live worker; never a dead one)."""
    return list(
        runs.live(AnalysisRun.objects.for_user(user))
        .filter(parameters=parameters, name__in=analyses.REPORT_ANALYSES)
        .only("id", "name", "status")
        .order_by("pk")
    )


def _run_key(run):
    """Identifies a stored run's content for caching (a run never changes once it succeeded)."""
    return f"{run.pk}@{run.finished_at.timestamp() if run.finished_at else ''}"


def _built_report(latest):
    """The report tables for these runs, built once per set of run ids (stored runs never change)."""
    ids = {name: run.pk for name, run in latest.items() if run}
    runs_key = ",".join(f"{name}={_run_key(run)}" for name, run in sorted(latest.items()) if run)
    key = "analysis-report:" + hashlib.sha256(runs_key.encode()).hexdigest()
    built = cache.get(key)
    if built is None:
        results = dict(AnalysisRun.objects.filter(pk__in=ids.values()).values_list("name", "results"))
        built = analyses.build_report(results)
        cache.set(key, built, REPORT_CACHE_SECONDS)
    return built


def _report_context(request, parameters):
    latest = _latest_runs(request.user, parameters)
    current = DataRevision.current().revision
    selection = _describe(parameters)
    provenance = {name: _provenance(run, current, selection) for name, run in latest.items() if run}
    report = _built_report(latest) if provenance else None
    if report:
        for table in report.tables():
            table.provenances = [provenance[n] for n in table.sources if n in provenance]
        for figure in report.figures():
            figure.provenance = provenance.get(figure.analysis)
        for section in report.sections:
            section.provenance = [provenance[n] for n in section.analyses if n in provenance]
    pending = _pending_runs(request.user, parameters)
    query = _query(parameters)
    return {
        "report": report,
        "parameters": parameters,
        "selection": selection,
        "query": query,
        "provenance": list(provenance.values()),
        "stale": any(p.stale for p in provenance.values()),
        "missing": [name for name, run in latest.items() if run is None],
        "pending": pending,
        "pending_ids": ",".join(str(r.pk) for r in pending),
        "can_recompute": access.can_recompute(request.user),
        "status_url": reverse("analysis:status") + "?" + query,
        "fragment_url": reverse("analysis:report-fragment") + ("?" + query if query else ""),
    }


# --- pages ----------------------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request):
    """Where the study stands: registrations, recurrences, data completeness, latest runs."""
    access.require_role(request.user)
    patients = Patient.objects.for_user(request.user)
    by_center = _center_rows(patients)
    by_year, trials = _year_rows(patients)
    totals = {
        key: sum(row[key] for row in by_center)
        for key in ("n", "relapsed", "refractory", "recurrent_or_refractory", "no_recent_follow_up")
    }
    scope = access.center_scope(request.user)
    parameters = (
        {}
        if scope is None
        else runs.normalize_parameters(
            {"center": Center.objects.filter(pk__in=scope).values_list("code", flat=True).first()}
        )
    )
    current = DataRevision.current().revision
    latest = []
    for name in analyses.REPORT_ANALYSES:
        run = (
            AnalysisRun.objects.for_user(request.user)
            .filter(name=name, parameters=parameters)
            .only(*RUN_FIELDS)
            .order_by("-created_at")
            .first()
        )
        latest.append(
            {
                "name": name,
                "title": runs.ANALYSES[name].title,
                "run": run,
                "stale": bool(run and run.data_revision is not None and current > run.data_revision),
            }
        )
    return render(
        request,
        "analysis/dashboard.html",
        {
            "by_center": by_center,
            "by_year": by_year,
            "trials": trials,
            "totals": totals,
            "latest": latest,
            "data_revision": current,
            "selection": _describe(parameters),
            "can_view_reports": access.can_view_reports(request.user),
            "no_follow_up_days": NO_FOLLOW_UP_DAYS,
            "operations": _operations_warnings(request.user),
        },
    )


def _operations_warnings(user):
    """For admins: analyses older than their schedule, and no live worker (as /health/ reports)."""
    if not access.can_see_operations(user):
        return []
    from registry.ops import health

    report, _healthy = health.components()
    warnings = []
    late = [runs.ANALYSES[name].title for name, state in report.get("analyses", {}).items() if state["overdue"]]
    if late:
        warnings.append(_("Analyses older than their schedule: %(names)s.") % {"names": ", ".join(late)})
    if not report["broker"]["ok"]:
        warnings.append(_("The task broker is unreachable; analyses and large imports wait in the queue."))
    elif not report.get("worker", {}).get("ok", True):
        warnings.append(_("No background worker is alive; analyses and large imports wait in the queue."))
    return warnings


def _center_rows(patients):
    """Per center: registrations, recurrences and data completeness, in one grouped query.

    Completeness: the share of required items recorded: CNS status, immunophenotype,
    prednisone response and MLL partner known (not "unknown"), a first-line response, a
    follow-up, and (recurrent or refractory patients only) a salvage line.
    """
    relapsed = course.relapsed_q()
    refractory = course.refractory_q()
    recurrent_or_refractory = course.recurrent_or_refractory_q()
    cutoff = date.today() - timedelta(days=NO_FOLLOW_UP_DAYS)
    dead = Exists(FollowUp.objects.filter(patient=OuterRef("pk"), vital_status=VitalStatus.DEAD))
    recent = Exists(FollowUp.objects.filter(patient=OuterRef("pk"), contact_date__gte=cutoff))
    any_follow_up = Exists(FollowUp.objects.filter(patient=OuterRef("pk")))
    salvage = Exists(SalvageLine.objects.filter(patient=OuterRef("pk")))
    rows = list(
        patients.values("center__code", "center__name")
        .annotate(
            n=Count("pk"),
            relapsed=Count("pk", filter=Q(relapsed)),
            refractory=Count("pk", filter=refractory),
            recurrent_or_refractory=Count("pk", filter=recurrent_or_refractory),
            cns_known=Count("pk", filter=~Q(cns_status="UNKNOWN")),
            phenotype_known=Count("pk", filter=~Q(immunophenotype="UNKNOWN")),
            prednisone_known=Count("pk", filter=~Q(prednisone_response="UNKNOWN")),
            partner_known=Count("pk", filter=~Q(mll_partner="UNKNOWN")),
            first_line=Count("pk", filter=Q(first_line_response__isnull=False)),
            follow_up=Count("pk", filter=Q(any_follow_up)),
            salvage=Count("pk", filter=recurrent_or_refractory & Q(salvage)),
            no_recent_follow_up=Count("pk", filter=~Q(dead) & ~Q(recent)),
        )
        .order_by("center__code")
    )
    for row in rows:
        filled = sum(
            row[k]
            for k in (
                "cns_known",
                "phenotype_known",
                "prednisone_known",
                "partner_known",
                "first_line",
                "follow_up",
                "salvage",
            )
        )
        required = 6 * row["n"] + row["recurrent_or_refractory"]
        row["completeness"] = filled / required if required else None
        row["completeness_percent"] = None if row["completeness"] is None else round(100 * row["completeness"], 1)
    return rows


def _year_rows(patients):
    counts = (
        patients.annotate(year=ExtractYear("registration_date"))
        .values("year", "trial__code")
        .annotate(n=Count("pk"))
        .order_by("year", "trial__code")
    )
    trials = list(runs.TRIALS)
    table = {}
    for row in counts:
        table.setdefault(row["year"], dict.fromkeys(trials, 0))[row["trial__code"]] = row["n"]
    rows = [{"year": y, "cells": [c[t] for t in trials], "total": sum(c.values())} for y, c in sorted(table.items())]
    by_trial = [sum(r["cells"][i] for r in rows) for i in range(len(trials))]
    return rows, [{"code": t, "n": by_trial[i]} for i, t in enumerate(trials)]


@login_required
@require_GET
def report(request):
    """The outcome report for the selected trial and center, from stored runs."""
    access.require_reports(request.user)
    form, parameters = _selection(request)
    context = _report_context(request, parameters)
    context["filter_form"] = form
    return render(request, "analysis/report.html", context)


@login_required
@require_GET
def report_fragment(request):
    """The report body alone, swapped into the page by report.js after a recompute."""
    access.require_reports(request.user)
    _form, parameters = _selection(request)
    return render(request, "analysis/_report.html", _report_context(request, parameters))


@login_required
@require_POST
def recompute(request):
    """Queue a run of every report analysis for the selection (unless one is already pending).

    Answers JSON to report.js (``Accept: application/json``), otherwise redirects back to the
    report, which shows the progress.
    """
    access.require_recompute(request.user)
    _form, parameters = _selection(request, request.POST)
    pending = _pending_runs(request.user, parameters)
    if not pending:
        pending = [
            runs.request_run(name, trigger=AnalysisRun.Trigger.ON_DEMAND, user=request.user, parameters=parameters)
            for name in analyses.REPORT_ANALYSES
        ]
    ids = [r.pk for r in pending]
    query = _query(parameters)
    # The broker was unreachable: the runs stay queued (the outbox sends them when it is back).
    waiting = runs.undelivered(pending) > 0
    if "application/json" in request.headers.get("Accept", ""):
        status_query = urlencode({**parameters, "runs": ",".join(map(str, ids))})
        return JsonResponse(
            {
                "runs": ids,
                "detail": handoff.undelivered_message() if waiting else _("Queued."),
                "status_url": reverse("analysis:status") + "?" + status_query,
                "fragment_url": reverse("analysis:report-fragment") + ("?" + query if query else ""),
            },
            status=202,
        )
    if waiting:
        messages.warning(request, handoff.undelivered_message())
    else:
        messages.info(request, f"Recomputing the report for {_describe(parameters)}.")
    return redirect(reverse("analysis:report") + ("?" + query if query else ""))


@login_required
@require_GET
def status(request):
    """Progress of the runs ``runs=1,2,3`` of the selection (default: those pending), as JSON."""
    access.require_reports(request.user)
    _form, parameters = _selection(request)
    try:
        ids = [int(i) for i in request.GET.get("runs", "").split(",") if i]
    except ValueError:
        raise Http404("Bad run ids.") from None
    qs = AnalysisRun.objects.for_user(request.user).filter(parameters=parameters, name__in=analyses.REPORT_ANALYSES)
    qs = qs.filter(pk__in=ids) if ids else qs.filter(status__in=PENDING)
    found = list(qs.values("id", "name", "status"))
    done = sum(r["status"] in (AnalysisRun.Status.SUCCEEDED, AnalysisRun.Status.FAILED) for r in found)
    return JsonResponse(
        {
            "runs": found,
            "total": len(found),
            "done": done,
            "failed": [r["name"] for r in found if r["status"] == AnalysisRun.Status.FAILED],
            "finished": done == len(found),
        }
    )


# --- downloads ------------------------------------------------------------------------------


def _filename(parameters, stem):
    parts = ["mll-registry", stem] + [parameters[k] for k in ("trial", "center") if k in parameters]
    return "-".join(parts).lower()


@login_required
@require_GET
def table_download(request, name, fmt):
    access.require_reports(request.user)
    _form, parameters = _selection(request)
    context = _report_context(request, parameters)
    table = context["report"].table(name) if context["report"] else None
    if table is None or fmt not in ("csv", "xlsx"):
        raise Http404("No such table.")
    if fmt == "csv":
        response = HttpResponse(report_files.table_csv(table), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(
            report_files.table_xlsx(table),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="{_filename(parameters, name)}.{fmt}"'
    return response


def _run_for(user, pk):
    """A successful report run the user may see (its selection within their centers); else 404."""
    run = (
        AnalysisRun.objects.for_user(user)
        .filter(pk=pk, status=AnalysisRun.Status.SUCCEEDED, name__in=analyses.REPORT_ANALYSES)
        .only(*RUN_FIELDS)
        .first()
    )
    if run is None:
        raise access.OutsideYourCenters()
    return run


@login_required
@require_GET
def figure_download(request, pk, name, fmt):
    """A run's figure: the stored SVG, or PNG / TIFF (``?dpi=300`` or ``600``, which many journals
    require) redrawn from the stored results."""
    access.require_reports(request.user)
    dpi = request.GET.get("dpi", "300")
    if not FIGURE_NAME.match(name) or fmt not in FIGURE_FORMATS or dpi not in ("300", "600"):
        raise Http404("No such figure.")
    run = _run_for(request.user, pk)
    if fmt == "svg":
        # Only this figure's text is read from the database, not the run's other figures.
        svg = AnalysisRun.objects.filter(pk=run.pk).values_list(f"figures__{name}", flat=True).first()
        if not svg:
            raise Http404("No such figure.")
        response = HttpResponse(svg, content_type="image/svg+xml")
    else:
        key = f"analysis-figure-{fmt}-{dpi}:{_run_key(run)}:{name}"
        image = cache.get(key)
        if image is None:
            results = AnalysisRun.objects.filter(pk=run.pk).values_list("results", flat=True).first()
            spec = analyses.figure_specs(run.name, results).get(name)
            if spec is None:
                raise Http404("No such figure.")
            image = figures.render(spec, fmt, dpi=int(dpi))
            cache.set(key, image, REPORT_CACHE_SECONDS)
        response = HttpResponse(image, content_type=FIGURE_FORMATS[fmt])
    if request.GET.get("download"):
        suffix = "" if fmt == "svg" else f"-{dpi}dpi"
        response["Content-Disposition"] = f'attachment; filename="mll-registry-run{run.pk}-{name}{suffix}.{fmt}"'
    # A stored run never changes: the browser may keep its figures.
    response["Cache-Control"] = "private, max-age=86400, immutable"
    return response


@login_required
@require_GET
def reproducibility_package(request):
    """The report's reproducibility package: the data set of its patients, every number it shows,
    and R and Python scripts that recompute them (``analysis.reproducibility``)."""
    access.require_reports(request.user)
    access.require_export(request.user, "analysis")
    _form, parameters = _selection(request)
    try:
        built = reproducibility.package_for(user=request.user, parameters=parameters)
    except reproducibility.DataChangedSinceRuns as exc:
        messages.error(request, str(exc))
        return redirect(reverse("analysis:report") + (f"?{_query(parameters)}" if parameters else ""))
    if built is None:
        raise Http404("No stored results for this selection yet.")
    content, file_name = built
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response


@login_required
@require_GET
def report_pdf(request):
    """The whole report as PDF: tables and figures redrawn (vector) from the stored results."""
    access.require_reports(request.user)
    _form, parameters = _selection(request)
    context = _report_context(request, parameters)
    report_ = context["report"]
    if report_ is None:
        raise Http404("No stored results for this selection yet.")
    ids = [p.run_id for p in context["provenance"]]
    specs = {}
    for name, results in AnalysisRun.objects.filter(pk__in=ids).values_list("name", "results"):
        specs.update(analyses.figure_specs(name, results))
    package = reverse("analysis:reproducibility") + (f"?{_query(parameters)}" if parameters else "")
    lines = [
        f"Selection: {context['selection']}",
        f"Reproducibility package (data, R and Python scripts): {package}",
    ] + [
        f"{p.analysis}: run {p.run_id}, finished {p.finished:%Y-%m-%d %H:%M} UTC, {p.n_patients} patients, "
        f"fingerprint {p.short_fingerprint}, data revision {p.data_revision}"
        + (" (data changed since)" if p.stale else "")
        for p in context["provenance"]
    ]
    pdf = report_files.report_pdf(
        report_, specs, heading="Outcome report, MLL96/MLL98 infant ALL", provenance_text=lines
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_filename(parameters, "outcome-report")}.pdf"'
    return response
