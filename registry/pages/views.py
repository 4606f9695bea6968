"""The server-rendered data-entry pages.

Reads go through ``registry.selectors`` (which 404 outside the user's centers), writes
through ``registry.services`` (which validate, audit and refuse users without the right).
A user who may see a record but not change it gets 403.
"""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import access, selectors, services, trail
from ..models import Center, FirstLineResponse, Patient
from ..security import events as security_events
from ..transfer import spreadsheet
from .forms import EVENT_KINDS, KIND_OF_MODEL, AuditFilterForm, PatientFilterForm, PatientForm, ReasonForm, ReviewForm

PAGE_SOURCE = "page"
PATIENTS_PER_PAGE = 50
AUDIT_ROWS_PER_PAGE = 100


def _event_kind(kind):
    try:
        return EVENT_KINDS[kind]
    except KeyError:
        raise Http404("No such kind of record.") from None


def _require_entry(user, patient=None):
    if not access.can_enter_data(user, patient):
        raise PermissionDenied("Only the study coordinator of this patient's center may change its records.")


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


def _query_without_page(request):
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


# --- Patients -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def patient_list(request):
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
            "query": _query_without_page(request),
            "can_register": access.can_enter_data(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def patient_create(request):
    _require_entry(request.user)
    # A coordinator registers patients of their own center only.
    patient = Patient(center=request.user.membership.center)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid() and _save(request, form, edit=False):
        messages.success(request, f"Saved. Patient {patient.study_id} registered.")
        return redirect("registry:patient-detail", pk=patient.pk)
    return render(request, "registry/record_form.html", {"form": form, "patient": None, "title": "Register a patient"})


@login_required
@require_http_methods(["GET", "POST"])
def patient_edit(request, pk):
    patient = selectors.patient_for(request.user, pk)
    _require_entry(request.user, patient)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid() and _save(request, form, edit=True):
        messages.success(request, "Saved.")
        return redirect("registry:patient-detail", pk=patient.pk)
    title = f"Edit patient {form.initial.get('study_id', patient.study_id)}"
    return render(request, "registry/record_form.html", {"form": form, "patient": patient, "title": title})


@login_required
@require_http_methods(["GET"])
def patient_detail(request, pk):
    patient = selectors.patient_for(request.user, pk)
    return _render_patient(request, patient)


def _render_patient(request, patient, review_form=None, status=200):
    entries = selectors.timeline(patient)
    for entry in entries:
        entry.edit_kind = KIND_OF_MODEL.get(type(entry.record))
    can_review = access.can_review(request.user)
    context = {
        "patient": patient,
        "timeline": entries,
        "history": selectors.patient_history(patient),
        "can_edit": access.can_enter_data(request.user, patient),
        "can_register": access.can_enter_data(request.user),
        "can_review": can_review,
        "has_first_line": selectors.has_first_line_response(patient),
        "review_form": review_form or ReasonForm(),
        "event_kinds": [(kind, label) for kind, (_, _, label) in EVENT_KINDS.items() if kind != "first-line"],
    }
    return render(request, "registry/patient_detail.html", context, status=status)


@login_required
@require_POST
def patient_review(request, pk):
    patient = selectors.patient_for(request.user, pk)
    if not access.can_review(request.user):
        raise PermissionDenied("Only a data manager may verify or lock records.")
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
    messages.success(request, f"Saved. Patient {patient.study_id}: {action} done.")
    return redirect("registry:patient-detail", pk=patient.pk)


# --- Events of the course -------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def event_create(request, pk, kind):
    model, form_class, label = _event_kind(kind)
    patient = selectors.patient_for(request.user, pk)
    _require_entry(request.user, patient)
    if model is FirstLineResponse and selectors.has_first_line_response(patient):
        messages.info(request, "This patient already has a first-line response; edit it instead.")
        return redirect("registry:patient-detail", pk=patient.pk)
    form = form_class(request.POST or None, instance=model(patient=patient))
    if request.method == "POST" and form.is_valid() and _save(request, form, edit=False):
        messages.success(request, f"Saved. {label.capitalize()} added.")
        return redirect("registry:patient-detail", pk=patient.pk)
    title = f"Add {label} for {patient.study_id}"
    return render(request, "registry/record_form.html", {"form": form, "patient": patient, "title": title})


@login_required
@require_http_methods(["GET", "POST"])
def event_edit(request, kind, pk):
    model, form_class, label = _event_kind(kind)
    record = selectors.record_for(request.user, model, pk)
    patient = record.patient
    _require_entry(request.user, patient)
    form = form_class(request.POST or None, instance=record)
    if request.method == "POST" and form.is_valid() and _save(request, form, edit=True):
        messages.success(request, f"Saved. {label.capitalize()} updated.")
        return redirect("registry:patient-detail", pk=patient.pk)
    title = f"Edit {label} of {patient.study_id}"
    return render(request, "registry/record_form.html", {"form": form, "patient": patient, "title": title})


@login_required
@require_http_methods(["GET", "POST"])
def event_delete(request, kind, pk):
    model, _, label = _event_kind(kind)
    record = selectors.record_for(request.user, model, pk)
    patient = record.patient
    if not access.can_review(request.user):
        raise PermissionDenied("Only a data manager may delete a clinical record.")
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.delete_record(user=request.user, record=record, reason=form.cleaned_data["reason"], source=PAGE_SOURCE)
        messages.success(request, f"Deleted the {label} ({record}).")
        return redirect("registry:patient-detail", pk=patient.pk)
    return render(
        request, "registry/record_delete.html", {"form": form, "record": record, "patient": patient, "label": label}
    )


# --- Audit trail ----------------------------------------------------------------------------


def _audit_rows(request):
    if not access.can_audit(request.user):
        raise PermissionDenied("Only administrators may read the audit trail.")
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
            "query": _query_without_page(request),
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


def csv_safe(value):
    """Neutralise spreadsheet formulas: a cell starting with = + - @ (or tab/CR) gets a leading quote."""
    return spreadsheet.neutralise("" if value is None else str(value))


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
    return [csv_safe(v) for v in values]


class _Echo:
    def write(self, value):
        return value


@login_required
@require_http_methods(["GET"])
def audit_export(request):
    _, rows = _audit_rows(request)
    security_events.record(security_events.Kind.EXPORT, request=request, detail=f"audit-trail.csv, {len(rows)} rows")
    writer = csv.writer(_Echo())
    lines = (writer.writerow(r) for r in [AUDIT_CSV_COLUMNS, *(_audit_csv_row(row) for row in rows)])
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    return response
