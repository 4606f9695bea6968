"""The pages of data management: queries, the dashboard, the data-quality report, SDV.

Reads go through ``registry.queries.selectors`` (404 outside the user's centers), writes through
``registry.queries.services`` (which refuse a role that may not, with 403).
"""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .. import access
from ..models import Patient
from ..pages.forms import KIND_OF_MODEL
from ..transfer.spreadsheet import neutralise
from . import selectors, services
from .forms import MessageForm, QueryFilterForm, RaiseQueryForm, VerifyForm
from .models import RECORD_MODELS, RecordType, field_label
from .rules import RULES, rule_by_code

SOURCE = "page"
PER_PAGE = 50
ACTIONS = {"answer": services.answer_query, "close": services.close_query, "reopen": services.reopen_query}


def _require_oversight(user):
    if not access.can_oversee_queries(user):
        raise access.NotYourRole(access.QUERY_OVERSIGHT_REFUSED)


def _errors(error):
    return [str(m) for m in (error.messages if hasattr(error, "messages") else [error])]


def edit_url(query):
    """The normal edit page of the queried record, told which query the correction answers."""
    model = RECORD_MODELS[query.record_type]
    if query.record_type == RecordType.PATIENT:
        url = reverse("registry:patient-edit", args=[query.record_id])
    else:
        url = reverse("registry:event-edit", args=[KIND_OF_MODEL[model], query.record_id])
    return f"{url}?query={query.pk}"


@login_required
@require_http_methods(["GET"])
def query_list(request):
    access.require_role(request.user)
    form = QueryFilterForm(request.GET or None, see_all_centers=access.can_see_all_centers(request.user))
    filters = form.filters() if request.GET else {"status": None}
    page = Paginator(selectors.queries_for(request.user, **filters), PER_PAGE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    rules = {r.code: r.title for r in RULES}
    for query in page.object_list:
        query.rule_title = rules.get(query.rule, "")
    return render(request, "queries/list.html", {"form": form, "page": page, "query_string": params.urlencode()})


@login_required
@require_http_methods(["GET", "POST"])
def query_new(request, record_type, record_id):
    if not access.can_raise_queries(request.user):
        raise access.NotYourRole(access.QUERY_RAISE_REFUSED)
    try:
        record, patient = services.target(record_type, record_id)
    except ValidationError:
        raise access.OutsideYourCenters() from None
    form = RaiseQueryForm(request.POST or None, record_type=record_type, initial={"field": request.GET.get("field")})
    if request.method == "POST" and form.is_valid():
        try:
            query = services.raise_query(
                user=request.user,
                record_type=record_type,
                record_id=record.pk,
                field=form.cleaned_data["field"],
                message=form.cleaned_data["message"],
                source=SOURCE,
            )
        except ValidationError as error:
            form.add_error(None, _errors(error))
        else:
            messages.success(request, _("Query raised."))
            return redirect("queries:detail", pk=query.pk)
    context = {"form": form, "record": record, "patient": patient, "record_type": RecordType(record_type)}
    return render(request, "queries/new.html", context)


@login_required
@require_http_methods(["GET"])
def query_detail(request, pk):
    return _render_detail(request, selectors.query_for(request.user, pk))


def _render_detail(request, query, form=None, status=200):
    user = request.user
    context = {
        "query": query,
        "rule": rule_by_code(query.rule),
        "messages_": selectors.messages_of(query),
        "record": query.record(),
        "history": selectors.query_history(query),
        "field_history": selectors.field_history(query.record_type, query.record_id, query.field),
        "form": form or MessageForm(),
        "can_answer": access.can_answer_queries(user, query.patient) and query.status != "closed",
        "can_close": access.can_raise_queries(user) and query.status != "closed",
        "can_reopen": access.can_raise_queries(user) and query.status != "open",
        "can_correct": access.can_enter_data(user, query.patient),
        "edit_url": edit_url(query),
    }
    return render(request, "queries/detail.html", context, status=status)


@login_required
@require_POST
def query_action(request, pk, action):
    query = selectors.query_for(request.user, pk)
    if action not in ACTIONS:
        raise access.OutsideYourCenters()
    form = MessageForm(request.POST)
    if form.is_valid():
        try:
            ACTIONS[action](user=request.user, query=query, message=form.cleaned_data["message"], source=SOURCE)
        except ValidationError as error:
            form.add_error(None, _errors(error))
        else:
            messages.success(request, _("Saved."))
            return redirect("queries:detail", pk=query.pk)
    return _render_detail(request, query, form=form, status=400)


# --- Oversight: dashboard, CSV, data-quality report ------------------------------------------------

DASHBOARD_COLUMNS = ["center", "open", "answered", "closed", "median_age_days_open", "overdue_over_14_days"]


@login_required
@require_http_methods(["GET"])
def dashboard(request):
    _require_oversight(request.user)
    rows, total = selectors.dashboard(request.user)
    return render(request, "queries/dashboard.html", {"rows": rows, "total": total})


@login_required
@require_http_methods(["GET"])
def dashboard_csv(request):
    _require_oversight(request.user)
    rows, total = selectors.dashboard(request.user)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    writer = csv.writer(response)
    writer.writerow(DASHBOARD_COLUMNS)
    for r in [*rows, total]:
        age = "" if r.median_age_days is None else r.median_age_days
        writer.writerow([neutralise(str(v)) for v in (r.center, r.open, r.answered, r.closed, age, r.overdue)])
    response["Content-Disposition"] = 'attachment; filename="data-queries-by-center.csv"'
    return response


@login_required
@require_http_methods(["GET"])
def quality_report(request):
    _require_oversight(request.user)
    found = selectors.quality_report(request.user)
    centers = sorted({center for by_center in found.values() for center in by_center})
    rules = []
    for rule in RULES:
        by_center = found.get(rule.code, {})
        cells = [sum(by_center.get(c, {}).get(s, 0) for s in ("open", "answered")) for c in centers]
        closed = sum(n.get("closed", 0) for n in by_center.values())
        rules.append({"rule": rule, "cells": cells, "open": sum(cells), "closed": closed})
    return render(request, "queries/quality.html", {"rules": rules, "centers": centers})


# --- Source data verification -------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def sdv(request):
    _require_oversight(request.user)
    center = request.GET.get("center") or None
    context = {
        "centers": selectors.sdv_progress(request.user),
        "center": center,
        "patients": selectors.sdv_progress(request.user, by="patient", center=center) if center else [],
        "changed": selectors.changed_since_verification(request.user, center=center),
    }
    return render(request, "queries/sdv.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def verify(request, record_type, record_id):
    try:
        record, patient = services.target(record_type, record_id)
    except ValidationError:
        raise access.OutsideYourCenters() from None
    if not Patient.objects.for_user(request.user).filter(pk=patient.pk).exists():
        raise access.OutsideYourCenters()
    form = VerifyForm(request.POST if request.method == "POST" else None, record_type=record_type)
    if request.method == "POST":
        if not access.can_verify_source(request.user):
            raise access.NotYourRole(access.SDV_REFUSED)
        if form.is_valid():
            services.verify_fields(
                user=request.user,
                record_type=record_type,
                record_id=record.pk,
                fields=form.cleaned_data["verified"],
                source=SOURCE,
            )
            messages.success(request, _("Verified against source."))
            return redirect("registry:patient-detail", pk=patient.pk)
    states = selectors.field_verification(record_type, record)
    fields = [(name, field_label(record_type, name), state) for name, state in states.items()]
    context = {
        "form": form,
        "record": record,
        "patient": patient,
        "record_type": RecordType(record_type),
        "fields": fields,
        "can_verify": access.can_verify_source(request.user),
    }
    return render(request, "queries/verify.html", context)
