"""The server-rendered data-entry pages.

Reads go through ``registry.selectors`` (which 404 outside the user's centers), writes
through ``registry.services`` (which validate, audit and refuse users without the right).
A user who may see a record but not change it gets 403.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .. import access, selectors, services, trail
from ..cuts.services import FrozenByCut, cut_freezing
from ..models import Center, FirstLineResponse, Patient
from ..security import events as security_events
from ..transfer import spreadsheet
from .forms import EVENT_KINDS, KIND_OF_MODEL, AuditFilterForm, PatientFilterForm, PatientForm, ReasonForm, ReviewForm
from .listing import query_without_page

PAGE_SOURCE = "page"
PATIENTS_PER_PAGE = 50
AUDIT_ROWS_PER_PAGE = 100


def _event_kind(kind):
    try:
        return EVENT_KINDS[kind]
    except KeyError:
        raise Http404(_("No such kind of record.")) from None


def _require_entry(user, patient=None):
    """403 in the site's layout saying why: not a coordinator, or the patient is locked (by whom, when)."""
    access.require_entry(user, patient)


def _save(request, form, *, edit):
    """Save a valid form through the service; on refusal put the errors on the form and return None."""
    record = form.save(commit=False)
    expected_version = None
    if edit:
        # An edit must say which version it changes: one posted without it counts as version 0,
        # which no record has, so the service refuses it as stale like any other lost update.
        expected_version = form.cleaned_data.get("version") or 0
    try:
        return services.save_record(
            user=request.user,
            record=record,
            source=PAGE_SOURCE,
            reason=form.cleaned_data.get("reason", "") if edit else "",
            expected_version=expected_version,
        )
    except ValidationError as error:
        form.add_service_errors(error)
        return None
    except FrozenByCut as error:
        form.add_error(None, str(error))
        return None


# --- Patients -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def patient_list(request):
    access.require_role(request.user)  # a user without a role gets the page saying so
    filter_form = PatientFilterForm(request.GET or None, see_all_centers=access.can_see_all_centers(request.user))
    filters = filter_form.filters() if request.GET else {}
    patients = selectors.patients_for(request.user, **filters)
    page = Paginator(patients, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/patient_list.html",
        {
            "filter_form": filter_form,
            "page": page,
            "query": query_without_page(request),
            "can_register": access.can_enter_data(request.user),
        },
    )


LAST_TRIAL_KEY = "registry.last_trial"


@login_required
@require_http_methods(["GET", "POST"])
def patient_create(request):
    _require_entry(request.user)
    # A coordinator registers patients of their own center only.
    patient = Patient(center=request.user.membership.center)
    # The trial used last is remembered, and the next free study ID of each trial suggested.
    suggestions = selectors.next_study_ids()
    initial = {}
    last_trial = request.session.get(LAST_TRIAL_KEY)
    if last_trial in suggestions:
        initial = {"trial": last_trial, "study_id": suggestions[last_trial]}
    form = PatientForm(request.POST or None, instance=patient, initial=initial)
    form.fields["study_id"].widget.attrs["data-suggestions"] = json.dumps(suggestions)
    if request.method == "POST" and form.is_valid() and _save(request, form, edit=False):
        request.session[LAST_TRIAL_KEY] = patient.trial_id
        messages.success(request, _("Saved. Patient %(study_id)s registered.") % {"study_id": patient.study_id})
        return redirect("registry:patient-detail", pk=patient.pk)
    context = {"form": form, "patient": None, "title": _("Register a patient"), "two_columns": True}
    return render(request, "registry/record_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def patient_edit(request, pk):
    patient = selectors.patient_for(request.user, pk)
    _require_entry(request.user, patient)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid() and _save(request, form, edit=True):
        messages.success(request, _("Saved."))
        return redirect("registry:patient-detail", pk=patient.pk)
    title = _("Edit patient %(study_id)s") % {"study_id": form.initial.get("study_id", patient.study_id)}
    return render(request, "registry/record_form.html", {"form": form, "patient": patient, "title": title})


@login_required
@require_http_methods(["GET"])
def patient_detail(request, pk):
    patient = selectors.patient_for(request.user, pk)
    return _render_patient(request, patient)


def _course_context(request, patient):
    """What the patient page and its course fragment show."""
    entries = selectors.timeline(patient)
    for entry in entries:
        entry.edit_kind = KIND_OF_MODEL.get(type(entry.record))
    frozen_by = cut_freezing(patient.trial_id)
    return {
        "patient": patient,
        "frozen_by": frozen_by,
        "timeline": entries,
        "can_edit": access.can_enter_data(request.user, patient) and frozen_by is None,
        "can_review": access.can_review(request.user),
        "has_first_line": selectors.has_first_line_response(patient),
        "event_kinds": [(kind, label) for kind, (_, _, label) in EVENT_KINDS.items() if kind != "first-line"],
    }


def _render_patient(request, patient, review_form=None, status=200):
    context = {
        **_course_context(request, patient),
        "history": selectors.patient_history(patient),
        "can_register": access.can_enter_data(request.user),
        "review_form": review_form or ReasonForm(),
    }
    return render(request, "registry/patient_detail.html", context, status=status)


@login_required
@require_POST
def patient_review(request, pk):
    patient = selectors.patient_for(request.user, pk)
    access.require_review(request.user)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _render_patient(request, patient, review_form=form, status=400)
    action = form.cleaned_data["action"]
    services.review_patient(
        user=request.user,
        patient=patient,
        source=PAGE_SOURCE,
        reason=form.cleaned_data["reason"],
        **ReviewForm.ACTIONS[action],
    )
    done = {
        "verify": _("Patient %(study_id)s verified."),
        "unverify": _("Patient %(study_id)s is no longer marked verified."),
        "lock": _("Patient %(study_id)s locked."),
        "unlock": _("Patient %(study_id)s unlocked."),
    }[action]
    messages.success(request, done % {"study_id": patient.study_id})
    return redirect("registry:patient-detail", pk=patient.pk)


# --- Events of the course -------------------------------------------------------------------


# The order of the paper form's course: "save and add next event" opens the next of these.
COURSE_ORDER = ["first-line", "relapse", "salvage", "transplant", "follow-up"]


# Says which fragment a response holds; a response without it (a refusal, a redirect) is a whole page.
FRAGMENT_HEADER = "X-Registry-Fragment"


def _wants_fragment(request):
    """The patient page's script asks for the form or the course alone (``?fragment=1``)."""
    return request.GET.get("fragment") == "1"


def next_event_kind(kind):
    """The kind after ``kind`` in the course order, or None after the follow-up."""
    position = COURSE_ORDER.index(kind) + 1
    return COURSE_ORDER[position] if position < len(COURSE_ORDER) else None


def _event_form_response(request, form, patient, title, kind):
    """The event form: a whole page, or only the form (400 with its errors) when asked for in place."""
    following = None if form.instance.pk else next_event_kind(kind)
    context = {
        "form": form,
        "patient": patient,
        "title": title,
        "action": request.path,
        "next_label": EVENT_KINDS[following][2] if following else None,
    }
    if _wants_fragment(request):
        response = render(request, "registry/_event_form.html", context, status=400 if form.is_bound else 200)
        response[FRAGMENT_HEADER] = "form"
        return response
    return render(request, "registry/record_form.html", context)


def _event_saved(request, patient, kind, message, *, added=True):
    """After a save: the updated course alone (in place, with the next event's form URL) or a page.

    A new event is followed by the next one of the course: in place its form opens; without
    JavaScript "Save and add next event" goes to its page.
    """
    following = next_event_kind(kind) if added else None
    if not _wants_fragment(request):
        if message:
            messages.success(request, message)
        if following and request.POST.get("then") == "next":
            return redirect("registry:event-create", pk=patient.pk, kind=following)
        return redirect("registry:patient-detail", pk=patient.pk)
    context = _course_context(request, patient)
    if following and request.POST.get("then") == "next":
        context["next_form_url"] = reverse("registry:event-create", args=[patient.pk, following]) + "?fragment=1"
    context["saved_message"] = message
    response = render(request, "registry/_course.html", context)
    response[FRAGMENT_HEADER] = "course"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def event_create(request, pk, kind):
    model, form_class, label = _event_kind(kind)
    patient = selectors.patient_for(request.user, pk)
    _require_entry(request.user, patient)
    if model is FirstLineResponse and selectors.has_first_line_response(patient):
        messages.info(request, _("This patient already has a first-line response; edit it instead."))
        return redirect("registry:patient-detail", pk=patient.pk)
    form = form_class(request.POST or None, instance=model(patient=patient))
    if request.method == "POST" and form.is_valid() and _save(request, form, edit=False):
        return _event_saved(request, patient, kind, _("Saved. %(record)s added.") % {"record": capfirst(label)})
    title = _("Add %(record)s for %(study_id)s") % {"record": label, "study_id": patient.study_id}
    return _event_form_response(request, form, patient, title, kind)


@login_required
@require_http_methods(["GET", "POST"])
def event_edit(request, kind, pk):
    model, form_class, label = _event_kind(kind)
    record = selectors.record_for(request.user, model, pk)
    patient = record.patient
    _require_entry(request.user, patient)
    form = form_class(request.POST or None, instance=record)
    if request.method == "POST" and form.is_valid() and _save(request, form, edit=True):
        message = _("Saved. %(record)s updated.") % {"record": capfirst(label)}
        return _event_saved(request, patient, kind, message, added=False)
    title = _("Edit %(record)s of %(study_id)s") % {"record": label, "study_id": patient.study_id}
    return _event_form_response(request, form, patient, title, kind)


@login_required
@require_http_methods(["GET", "POST"])
def event_delete(request, kind, pk):
    model, _form, label = _event_kind(kind)
    record = selectors.record_for(request.user, model, pk)
    patient = record.patient
    if not access.can_review(request.user):
        raise access.NotYourRole(access.DELETE_REFUSED)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.delete_record(user=request.user, record=record, reason=form.cleaned_data["reason"], source=PAGE_SOURCE)
        messages.success(request, _("Deleted the %(record)s (%(name)s).") % {"record": label, "name": record})
        return redirect("registry:patient-detail", pk=patient.pk)
    return render(
        request, "registry/record_delete.html", {"form": form, "record": record, "patient": patient, "label": label}
    )


# --- Audit trail ----------------------------------------------------------------------------


def _audit_rows(request):
    access.require_audit(request.user)
    form = AuditFilterForm(request.GET or None)
    rows = selectors.audit_trail(**form.filters()) if request.GET else selectors.audit_trail()
    centers = dict(Center.objects.values_list("pk", "code"))
    for row in rows:
        row.center = centers.get(row.center_id, "")
    return form, rows


@login_required
@require_http_methods(["GET"])
def audit_trail(request):
    form, rows = _audit_rows(request)
    page = Paginator(rows, AUDIT_ROWS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/audit_trail.html",
        {
            "form": form,
            "page": page,
            "query": query_without_page(request),
            "total": len(rows),
            "last_check": trail.last_check(),
            "chain_supported": trail.supported(),
        },
    )


AUDIT_CSV_COLUMNS = [
    "timestamp_utc",
    "user",
    "action",
    "record_type",
    "record_id",
    "study_id",
    "center",
    "source",
    "reason",
    "changes",
]


def _audit_csv_row(row):
    changes = "; ".join(f"{field}: {old} -> {new}" for field, old, new in row.changes)
    values = [
        row.when.isoformat(),
        row.user,
        row.action,
        row.record_type,
        row.record_id,
        row.study_id,
        row.center,
        row.source,
        row.reason,
        changes,
    ]
    return [spreadsheet.csv_cell(v) for v in values]


@login_required
@require_http_methods(["GET"])
def audit_export(request):
    _form, rows = _audit_rows(request)
    security_events.record(security_events.Kind.EXPORT, request=request, detail=f"audit-trail.csv, {len(rows)} rows")
    return spreadsheet.csv_response("audit-trail.csv", AUDIT_CSV_COLUMNS, (_audit_csv_row(row) for row in rows))
