"""Report pages: the study dashboard and the outcome report, read from stored analysis runs.

No statistics are computed here. The dashboard's counts are a few set-based aggregate
queries scoped by ``Patient.objects.for_user``; the outcome report reads the newest successful
stored runs for the selected trial and center (``AnalysisRun.parameters``), builds its tables
once per set of runs (``analysis.analyses.build_report``, cached by run id) and shows the runs' stored SVG
figures, their text translated as they are served (``analysis.figure_text``). The page therefore costs
the same whatever the number of patients.

Who sees what (the rules are ``registry.access``'s, the runs a user reads
``AnalysisRun.objects.for_user``): everyone with a role sees the dashboard of their centers;
investigators, data managers and admins see outcome reports, a center-scoped investigator only
for their center; investigators and admins may recompute. Coordinators get no outcome report.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from registry import access
from registry.cuts.models import DataCut
from registry.models import Center, DataRevision
from registry.ops import handoff

from . import analyses, figure_text, report_files, reproducibility, runs
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


# --- selection: trial and center --------------------------------------------------------------


class ReportFilterForm(forms.Form):
    trial = forms.ChoiceField(
        label=_lazy("Trial"), required=False, choices=[("", _lazy("MLL96 and MLL98"))] + [(t, t) for t in runs.TRIALS]
    )
    center = forms.ChoiceField(label=_lazy("Center"), required=False)
    cut = forms.ModelChoiceField(
        label=_lazy("Data"),
        required=False,
        queryset=DataCut.objects.defer("snapshot").select_related("trial"),
        empty_label=_lazy("Live data"),
    )

    def __init__(self, *args, centers, all_centers, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(c.code, f"{c.code} {c.name}") for c in centers]
        self.fields["center"].choices = ([("", _("All centers"))] if all_centers else []) + choices


def _selection(request, data=None):
    """(form, parameters) for the request; a center outside the user's scope is a 404.

    ``form.cut`` is the data cut the report is read at (``?cut=<id>``), None for the live data.
    """
    data = request.GET if data is None else data
    scope = access.center_scope(request.user)
    all_centers = scope is None
    centers = Center.objects.all() if all_centers else Center.objects.filter(pk__in=scope)
    centers = list(centers.only("code", "name"))
    codes = {c.code for c in centers}
    asked = data.get("center") or ""
    if asked and asked not in codes:
        raise Http404(_("No such center."))
    values = {
        "trial": data.get("trial") or "",
        "center": asked or ("" if all_centers else next(iter(codes), "")),
        "cut": data.get("cut") or "",
    }
    form = ReportFilterForm(values, centers=centers, all_centers=all_centers)
    if not form.is_valid():
        raise Http404(_("No such trial or data cut."))
    form.cut = form.cleaned_data.pop("cut")
    if not all_centers and not codes:
        raise access.NotYourRole(access.NO_CENTER)
    return form, runs.normalize_parameters(form.cleaned_data)


def _describe(parameters, cut=None):
    trial = parameters.get("trial") or (cut.trial.code if cut and cut.trial_id else _("MLL96 and MLL98"))
    center = parameters.get("center") or _("all centers")
    if cut is None:
        return f"{trial}, {center}"
    return f"{trial}, {center}, " + _("data cut “%(name)s”") % {"name": cut.name}


def _query(parameters, cut=None):
    return urlencode({**parameters, **({"cut": cut.pk} if cut else {})})


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
    data_cut: str = ""

    @property
    def short_fingerprint(self):
        return self.fingerprint[:12]


def _provenance(run, current_revision, selection, cut=None):
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
        stale=cut is None and run.data_revision is not None and current_revision > run.data_revision,
        data_cut=cut.name if cut else "",
    )


def _latest_runs(user, parameters, cut=None):
    """Newest successful run per report analysis for ``parameters`` (at ``cut``, or on the live
    data); metadata only (no JSON)."""
    found = {}
    for name in analyses.REPORT_ANALYSES:
        found[name] = (
            AnalysisRun.objects.for_user(user)
            .filter(name=name, status=AnalysisRun.Status.SUCCEEDED, parameters=parameters, data_cut=cut)
            .only(*RUN_FIELDS)
            .order_by("-finished_at")
            .first()
        )
    return found


def _pending_runs(user, parameters, cut=None):
    """Runs of the selection still in hand (queued, or running on a live worker; never a dead one)."""
    return list(
        runs.live(AnalysisRun.objects.for_user(user))
        .filter(parameters=parameters, name__in=analyses.REPORT_ANALYSES, data_cut=cut)
        .only("id", "name", "status")
        .order_by("pk")
    )


def _run_key(run):
    """Identifies a stored run's content for caching (a run never changes once it succeeded)."""
    return f"{run.pk}@{run.finished_at.timestamp() if run.finished_at else ''}"


def _built_report(latest):
    """The report tables for these runs, built once per set of run ids (stored runs never change)
    and language (the tables' words are translated as they are built)."""
    ids = {name: run.pk for name, run in latest.items() if run}
    runs_key = ",".join(f"{name}={_run_key(run)}" for name, run in sorted(latest.items()) if run)
    key = f"analysis-report:{translation.get_language()}:" + hashlib.sha256(runs_key.encode()).hexdigest()
    built = cache.get(key)
    if built is None:
        results = dict(AnalysisRun.objects.filter(pk__in=ids.values()).values_list("name", "results"))
        built = analyses.build_report(results)
        cache.set(key, built, REPORT_CACHE_SECONDS)
    return built


def _report_context(request, parameters, cut=None):
    latest = _latest_runs(request.user, parameters, cut)
    current = DataRevision.current().revision
    selection = _describe(parameters, cut)
    provenance = {name: _provenance(run, current, selection, cut) for name, run in latest.items() if run}
    report = _built_report(latest) if provenance else None
    if report:
        for table in report.tables():
            table.provenances = [provenance[n] for n in table.sources if n in provenance]
        for figure in report.figures():
            figure.provenance = provenance.get(figure.analysis)
        for section in report.sections:
            section.provenance = [provenance[n] for n in section.analyses if n in provenance]
    pending = _pending_runs(request.user, parameters, cut)
    query = _query(parameters, cut)
    return {
        "report": report,
        "parameters": parameters,
        "cut": cut,
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
def report(request):
    """The outcome report for the selected trial and center, from stored runs."""
    access.require_reports(request.user)
    form, parameters = _selection(request)
    context = _report_context(request, parameters, form.cut)
    context["filter_form"] = form
    return render(request, "analysis/report.html", context)


@login_required
@require_GET
def report_fragment(request):
    """The report body alone, swapped into the page by report.js after a recompute."""
    access.require_reports(request.user)
    form, parameters = _selection(request)
    return render(request, "analysis/_report.html", _report_context(request, parameters, form.cut))


@login_required
@require_POST
def recompute(request):
    """Queue a run of every report analysis for the selection (unless one is already pending).

    Answers JSON to report.js (``Accept: application/json``), otherwise redirects back to the
    report, which shows the progress.
    """
    access.require_recompute(request.user)
    form, parameters = _selection(request, request.POST)
    cut = form.cut
    pending = _pending_runs(request.user, parameters, cut)
    if not pending:
        try:
            pending = [
                runs.request_run(
                    name, trigger=AnalysisRun.Trigger.ON_DEMAND, user=request.user, parameters=parameters, cut=cut
                )
                for name in analyses.REPORT_ANALYSES
            ]
        except ValueError:  # a trial outside the cut's scope
            raise Http404(_("No such trial or data cut.")) from None
    ids = [r.pk for r in pending]
    query = _query(parameters, cut)
    # The broker was unreachable: the runs stay queued (the outbox sends them when it is back).
    waiting = runs.undelivered(pending) > 0
    if "application/json" in request.headers.get("Accept", ""):
        status_query = urlencode({**parameters, **({"cut": cut.pk} if cut else {}), "runs": ",".join(map(str, ids))})
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
        messages.info(
            request, _("Recomputing the report for %(selection)s.") % {"selection": _describe(parameters, cut)}
        )
    return redirect(reverse("analysis:report") + ("?" + query if query else ""))


@login_required
@require_GET
def status(request):
    """Progress of the runs ``runs=1,2,3`` of the selection (default: those pending), as JSON."""
    access.require_reports(request.user)
    form, parameters = _selection(request)
    try:
        ids = [int(i) for i in request.GET.get("runs", "").split(",") if i]
    except ValueError:
        raise Http404(_("Bad run ids.")) from None
    qs = AnalysisRun.objects.for_user(request.user).filter(
        parameters=parameters, name__in=analyses.REPORT_ANALYSES, data_cut=form.cut
    )
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
    form, parameters = _selection(request)
    context = _report_context(request, parameters, form.cut)
    table = context["report"].table(name) if context["report"] else None
    if table is None or fmt not in ("csv", "xlsx"):
        raise Http404(_("No such table."))
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
    require) redrawn from the stored results; in the reader's language (``analysis.figure_text``:
    PNG and TIFF in English if the server has no font for it)."""
    access.require_reports(request.user)
    dpi = request.GET.get("dpi", "300")
    if not FIGURE_NAME.match(name) or fmt not in FIGURE_FORMATS or dpi not in ("300", "600"):
        raise Http404(_("No such figure."))
    run = _run_for(request.user, pk)
    if fmt == "svg":
        # Only this figure's text is read from the database, not the run's other figures.
        svg = AnalysisRun.objects.filter(pk=run.pk).values_list(f"figures__{name}", flat=True).first()
        if not svg:
            raise Http404(_("No such figure."))
        response = HttpResponse(figure_text.translate_svg(svg), content_type="image/svg+xml")
    else:
        language = figure_text.drawing_language()
        key = f"analysis-figure-{fmt}-{dpi}-{language}:{_run_key(run)}:{name}"
        image = cache.get(key)
        if image is None:
            results = AnalysisRun.objects.filter(pk=run.pk).values_list("results", flat=True).first()
            spec = analyses.figure_specs(run.name, results).get(name)
            if spec is None:
                raise Http404(_("No such figure."))
            image = figure_text.render(spec, fmt, dpi=int(dpi))
            cache.set(key, image, REPORT_CACHE_SECONDS)
        response = HttpResponse(image, content_type=FIGURE_FORMATS[fmt])
    if request.GET.get("download"):
        suffix = "" if fmt == "svg" else f"-{dpi}dpi"
        response["Content-Disposition"] = f'attachment; filename="mll-registry-run{run.pk}-{name}{suffix}.{fmt}"'
    # A stored run never changes: the browser may keep its figures (the page asks for them with
    # ?lang=, so a change of language is another URL; a direct link varies by the language asked).
    response["Cache-Control"] = "private, max-age=86400, immutable"
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    return response


@login_required
@require_GET
def reproducibility_package(request):
    """The report's reproducibility package: the data set of its patients, every number it shows,
    and R and Python scripts that recompute them (``analysis.reproducibility``)."""
    access.require_reports(request.user)
    access.require_export(request.user, "analysis")
    form, parameters = _selection(request)
    try:
        built = reproducibility.package_for(user=request.user, parameters=parameters, cut=form.cut)
    except reproducibility.DataChangedSinceRuns as exc:
        messages.error(request, str(exc))
        query = _query(parameters, form.cut)
        return redirect(reverse("analysis:report") + (f"?{query}" if query else ""))
    if built is None:
        raise Http404(_("No stored results for this selection yet."))
    content, file_name = built
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response


@login_required
@require_GET
def report_pdf(request):
    """The whole report as PDF: tables and figures redrawn (vector) from the stored results.

    In the reader's language when the server has a font with its glyphs
    (``analysis.figure_text.japanese_font``); otherwise in English, and its title page says why."""
    if figure_text.drawing_language() == figure_text.active_language():
        return _report_pdf(request)
    with translation.override("en"):
        return _report_pdf(
            request,
            note=_("In English: the server has no font with Japanese glyphs (Debian package fonts-noto-cjk)."),
        )


def _report_pdf(request, note=""):
    access.require_reports(request.user)
    form, parameters = _selection(request)
    context = _report_context(request, parameters, form.cut)
    report_ = context["report"]
    if report_ is None:
        raise Http404(_("No stored results for this selection yet."))
    ids = [p.run_id for p in context["provenance"]]
    specs = {}
    for name, results in AnalysisRun.objects.filter(pk__in=ids).values_list("name", "results"):
        specs.update(analyses.figure_specs(name, results))
    query = _query(parameters, form.cut)
    package = reverse("analysis:reproducibility") + (f"?{query}" if query else "")
    lines = [
        *([note] if note else []),
        _("Selection: %(selection)s") % {"selection": context["selection"]},
        _("Reproducibility package (data, R and Python scripts): %(url)s") % {"url": package},
    ] + [_pdf_provenance(p) for p in context["provenance"]]
    pdf = report_files.report_pdf(
        report_,
        specs,
        heading=_("Outcome report, MLL96/MLL98 infant ALL"),
        provenance_text=lines,
        cut=form.cut if not parameters else None,  # its signatures: a report at a cut is study-wide
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    response["Content-Disposition"] = f'attachment; filename="{_filename(parameters, "outcome-report")}.pdf"'
    return response


def _pdf_provenance(p):
    """One run's provenance on the PDF's title page."""
    line = _(
        "%(analysis)s: run %(run)s, finished %(finished)s UTC, %(n)s patients, fingerprint %(fingerprint)s, "
        "data revision %(revision)s"
    ) % {
        "analysis": p.analysis,
        "run": p.run_id,
        "finished": f"{p.finished:%Y-%m-%d %H:%M}",
        "n": p.n_patients,
        "fingerprint": p.short_fingerprint,
        "revision": p.data_revision,
    }
    if p.data_cut:
        line += _(", at data cut %(cut)s") % {"cut": p.data_cut}
    if p.stale:
        line += " " + _("(data changed since)")
    return line
