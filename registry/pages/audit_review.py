"""The audit review page and its CSV, for admins and data managers (monitors).

The findings come from ``registry.audit_review``; this module only reads the filters, checks the
role (``access.require_review_audit``: others 403, anonymous users to the sign-in page), and
links each finding to where it can be read in full: the patient's page, and for admins (who
may read it) the audit trail filtered to the record or to the user's hour.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from .. import access
from ..audit_review import CUT_WINDOW_DAYS, MASS_EDIT_RECORDS, Filters, Kind, review
from ..models import Center
from ..security import events as security_events
from ..transfer import spreadsheet
from .forms import DateInput, PlainLabels
from .listing import query_without_page

ROWS_PER_PAGE = 100
CSV_LIMIT = 50_000  # rows per kind in the CSV (the page shows ``audit_review.LIMIT``)

REVIEW_CSV_COLUMNS = [
    "kind",
    "when_utc",
    "until_utc",
    "user",
    "center",
    "study_id",
    "record_type",
    "record_id",
    "action",
    "changes",
    "records",
    "patients",
    "source",
    "reason",
    "cut",
    "detail",
]


class ReviewFilterForm(PlainLabels, forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", _("All kinds")), *Kind.choices], required=False)
    user = forms.ModelChoiceField(
        label=_("User"), queryset=get_user_model().objects.order_by("username"), required=False, empty_label=_("Anyone")
    )
    center = forms.ModelChoiceField(
        label=_("Center"), queryset=Center.objects.all(), required=False, empty_label=_("All centers")
    )
    since = forms.DateField(label=_("From (UTC)"), required=False, widget=DateInput)
    until = forms.DateField(label=_("To (UTC)"), required=False, widget=DateInput)
    threshold = forms.IntegerField(
        label=_("Mass edit: more than N records in an hour"),
        min_value=0,
        max_value=1_000_000,
        required=False,
        widget=forms.NumberInput(attrs={"placeholder": MASS_EDIT_RECORDS}),
    )
    window_days = forms.IntegerField(
        label=_("Days before a data cut"),
        min_value=0,
        max_value=3650,
        required=False,
        widget=forms.NumberInput(attrs={"placeholder": CUT_WINDOW_DAYS}),
    )

    def filters(self):
        """``Filters`` for ``audit_review.review``; an invalid form filters nothing (its errors show)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        user, center = data.get("user"), data.get("center")
        threshold, window_days = data.get("threshold"), data.get("window_days")
        return Filters(
            kind=data.get("kind", ""),
            user_id=user.pk if user else None,
            center_id=center.pk if center else None,
            since=data.get("since"),
            until=data.get("until"),
            threshold=MASS_EDIT_RECORDS if threshold is None else threshold,
            window_days=CUT_WINDOW_DAYS if window_days is None else window_days,
        )


def _review(request, limit=None):
    access.require_review_audit(request.user)
    form = ReviewFilterForm(request.GET or None)
    filters = form.filters()
    found = review(request.user, filters) if limit is None else review(request.user, filters, limit=limit)
    return form, filters, found


def _decorate(row, can_read_trail, labels):
    """The kind's label, and where a finding can be read in full: the patient's page; for
    admins, the audit trail."""
    row["kind_label"] = labels[row["kind"]]
    row["patient_url"] = reverse("registry:patient-detail", args=[row["patient_id"]]) if row["patient_id"] else ""
    row["trail_url"] = ""
    if not can_read_trail:
        return
    if row["record_type"]:
        query = {"study_id": row["study_id"], "record_type": row["record_type"]}
    elif row["kind"] == Kind.MASS_EDIT and row["user_id"]:
        day = row["when"].date().isoformat()
        query = {"user": row["user_id"], "since": day, "until": day}
    else:
        return
    row["trail_url"] = f"{reverse('registry:audit-trail')}?{urlencode(query)}"


@login_required
@require_http_methods(["GET"])
def audit_review(request):
    form, filters, found = _review(request)
    page = Paginator(found.rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    can_read_trail = access.can_audit(request.user)
    labels = dict(Kind.choices)
    for row in page.object_list:
        _decorate(row, can_read_trail, labels)
    return render(
        request,
        "registry/audit_review.html",
        {
            "form": form,
            "filters": filters,
            "page": page,
            "query": query_without_page(request),
            "total": len(found.rows),
            "counts": [(kind, labels[kind], n, kind in found.truncated) for kind, n in found.counts.items()],
            "can_read_trail": can_read_trail,
        },
    )


def _csv_row(row):
    values = [
        row["kind"],
        row["when"].isoformat(),
        row["until"].isoformat() if row["until"] else "",
        row["user"],
        row["center"],
        row["study_id"],
        row["record_type"],
        row["record_id"],
        row["action"],
        row["changes"],
        row["records"],
        row["patients"],
        row["source"],
        row["reason"],
        row["cut"],
        row["detail"],
    ]
    return [spreadsheet.csv_cell(value) for value in values]


@login_required
@require_http_methods(["GET"])
def audit_review_csv(request):
    found = _review(request, limit=CSV_LIMIT)[2]
    security_events.record(
        security_events.Kind.EXPORT, request=request, detail=f"audit-review.csv, {len(found.rows)} rows"
    )
    return spreadsheet.csv_response("audit-review.csv", REVIEW_CSV_COLUMNS, (_csv_row(row) for row in found.rows))
