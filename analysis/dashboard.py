"""The study dashboard: registrations, recurrences, data completeness and the latest runs.

Everyone with a role sees the dashboard of their centers; admins also see operations warnings
(as /health/ reports). The counts are study-wide aggregates (two grouped queries over the course
facts' SQL predicates, ``registry.course``) computed once per data revision and day and kept in
the "summaries" cache (:func:`study_counts`): every clinical write moves the revision, so they are
never stale, and a request reads them in constant time whatever the number of patients. A user's
view keeps the rows of their centers (``access.center_scope``). The refresh after data changes
computes them ahead of the first reader (``analysis.tasks``).
"""

import logging
from datetime import date, timedelta

from django.contrib.auth.decorators import login_required
from django.core.cache import caches
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import ExtractYear
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from registry import access, course
from registry.choices import VitalStatus
from registry.models import Center, DataRevision, FollowUp, Patient, SalvageLine

from . import analyses, runs
from .models import AnalysisRun
from .views import RUN_FIELDS, _describe

NO_FOLLOW_UP_DAYS = 365
log = logging.getLogger(__name__)


@login_required
@require_GET
def dashboard(request):
    """Where the study stands: registrations, recurrences, data completeness, latest runs."""
    access.require_role(request.user)
    counts = study_counts()
    scope = access.center_scope(request.user)
    by_center = [row for row in counts["by_center"] if scope is None or row["center_id"] in scope]
    by_year, trials = _year_rows(row for row in counts["by_year"] if scope is None or row["center_id"] in scope)
    totals = {
        key: sum(row[key] for row in by_center)
        for key in ("n", "relapsed", "refractory", "recurrent_or_refractory", "no_recent_follow_up")
    }
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
            .filter(name=name, parameters=parameters, data_cut=None)
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
        names = ", ".join(str(title) for title in late)
        warnings.append(_("Analyses older than their schedule: %(names)s.") % {"names": names})
    if not report["broker"]["ok"]:
        warnings.append(_("The task broker is unreachable; analyses and large imports wait in the queue."))
    elif not report.get("worker", {}).get("ok", True):
        warnings.append(_("No background worker is alive; analyses and large imports wait in the queue."))
    return warnings


def study_counts():
    """The study-wide counts the dashboard shows: ``{"by_center": [...], "by_year": [...]}``, each row
    with its ``center_id``; computed once per data revision and day (the follow-up cut-off moves
    daily) and cached, so that a request costs the same whatever the number of patients."""
    state = DataRevision.current()
    today = date.today()
    changed = state.changed_at.isoformat() if state.changed_at else "-"
    key = f"dashboard-counts:{state.revision}:{changed}:{today.isoformat()}"
    cache = caches["summaries"]
    try:
        counts = cache.get(key)
    except Exception:  # the cache (Redis) is down: compute, as without a cache
        log.warning("The summaries cache is unreachable; the dashboard counts are computed per request")
        cache, counts = None, None
    if counts is None:
        patients = Patient.objects.all()
        counts = {"by_center": _center_rows(patients, today), "by_year": _year_counts(patients)}
        if cache is not None:
            try:
                cache.set(key, counts)
            except Exception:
                log.warning("The summaries cache is unreachable; the dashboard counts were not kept")
    return counts


def _center_rows(patients, today):
    """Per center: registrations, recurrences and data completeness, in one grouped query.

    Completeness: the share of required items recorded: CNS status, immunophenotype,
    prednisone response and MLL partner known (not "unknown"), a first-line response, a
    follow-up, and (recurrent or refractory patients only) a salvage line.
    """
    relapsed = course.relapsed_q()
    refractory = course.refractory_q()
    recurrent_or_refractory = course.recurrent_or_refractory_q()
    cutoff = today - timedelta(days=NO_FOLLOW_UP_DAYS)
    dead = Exists(FollowUp.objects.filter(patient=OuterRef("pk"), vital_status=VitalStatus.DEAD))
    recent = Exists(FollowUp.objects.filter(patient=OuterRef("pk"), contact_date__gte=cutoff))
    any_follow_up = Exists(FollowUp.objects.filter(patient=OuterRef("pk")))
    salvage = Exists(SalvageLine.objects.filter(patient=OuterRef("pk")))
    rows = list(
        patients.values("center_id", "center__code", "center__name")
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


def _year_counts(patients):
    """Registrations per center, year and trial."""
    return list(
        patients.annotate(year=ExtractYear("registration_date"))
        .values("center_id", "year", "trial__code")
        .annotate(n=Count("pk"))
        .order_by("year", "trial__code")
    )


def _year_rows(counts):
    """Registrations per year (rows) and trial (columns), and per trial, from :func:`_year_counts` rows."""
    trials = list(runs.TRIALS)
    table = {}
    for row in counts:
        cells = table.setdefault(row["year"], dict.fromkeys(trials, 0))
        cells[row["trial__code"]] = cells.get(row["trial__code"], 0) + row["n"]
    rows = [{"year": y, "cells": [c[t] for t in trials], "total": sum(c.values())} for y, c in sorted(table.items())]
    by_trial = [sum(r["cells"][i] for r in rows) for i in range(len(trials))]
    return rows, [{"code": t, "n": by_trial[i]} for i, t in enumerate(trials)]
