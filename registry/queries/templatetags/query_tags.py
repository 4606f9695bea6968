"""Queries where people work: badges beside fields, the coordinator's worklist, the patient's panel.

Each tag costs a fixed number of database queries per page: ``open_query_counts`` reads a patient's
open queries once; the badges read that dict.
"""

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ... import access
from ..models import RECORD_TYPE_OF_MODEL, DataQuery, RecordType
from ..selectors import open_counts, queries_for, worklist

register = template.Library()


def _record_type(record):
    return RECORD_TYPE_OF_MODEL.get(type(record))


@register.simple_tag
def open_query_counts(patient):
    """{(record_type, record_id): {field: n}} of the patient's open queries (one database query)."""
    return open_counts(patient)


def _badge(n, url, title):
    if not n:
        return ""
    label = ngettext("%(n)d open query", "%(n)d open queries", n) % {"n": n}
    return format_html('<a class="badge warn query-badge" href="{}" title="{}">{}</a>', url, title, label)


def _list_url(record):
    patient_id = record.pk if _record_type(record) == RecordType.PATIENT else record.patient_id
    return f"{reverse('queries:list')}?patient={patient_id}&status=open"


@register.simple_tag
def query_badge(counts, record, field):
    """'1 open query' beside one field of ``record`` (nothing when there is none)."""
    record_type = _record_type(record)
    if not counts or record_type is None or record.pk is None:
        return ""
    n = counts.get((record_type, record.pk), {}).get(field, 0)
    return _badge(n, _list_url(record), _("Open queries on this field"))


@register.simple_tag
def record_query_badge(counts, record, whole_only=False):
    """The open queries of a whole record (with ``whole_only``, only those on no particular field)."""
    record_type = _record_type(record)
    if not counts or record_type is None:
        return ""
    by_field = counts.get((record_type, record.pk), {})
    n = by_field.get("", 0) if whole_only else sum(by_field.values())
    fields = ", ".join(sorted(f for f in by_field if f))
    return _badge(n, _list_url(record), fields or _("Open queries on this record"))


@register.simple_tag(takes_context=True)
def edit_form_queries(context, form):
    """On an edit page opened from a query (``?query=<id>``): prefill the reason for change from the
    query. Returns the record's open-query counts for the field badges."""
    request = context.get("request")
    record = form.instance
    record_type = _record_type(record)
    if record_type is None or record.pk is None or request is None:
        return {}
    qid = request.GET.get("query", "")
    if qid.isdigit() and "reason" in form.fields and not form.is_bound:
        query = queries_for(request.user, record=(record_type, record.pk)).filter(pk=int(qid)).first()
        if query is not None:
            first = query.messages.order_by("created_at", "pk").first()
            text = _("Answer to query #%(id)s") % {"id": query.pk}
            if first:
                text = f"{text}: {first.text}"
            form.initial["reason"] = text[:255]
    counts = (
        DataQuery.objects.filter(record_type=record_type, record_id=record.pk, status=DataQuery.Status.OPEN)
        .values_list("field", flat=True)
        .order_by()
    )
    by_field = {}
    for field in counts:
        by_field[field] = by_field.get(field, 0) + 1
    return {(record_type, record.pk): by_field}


@register.simple_tag
def query_links(user, record):
    """'Raise a query' and 'Verify' links for a data manager, beside a record on the patient page."""
    record_type = _record_type(record)
    if record_type is None:
        return ""
    links = []
    if access.can_raise_queries(user):
        url = reverse("queries:new", args=[record_type, record.pk])
        links.append(format_html('<a href="{}">{}</a>', url, _("Raise a query")))
    if access.can_verify_source(user) or access.can_oversee_queries(user):
        url = reverse("queries:verify", args=[record_type, record.pk])
        links.append(format_html('<a href="{}">{}</a>', url, _("Source verification")))
    return format_html(" ".join(["{}"] * len(links)), *links) if links else ""


@register.inclusion_tag("queries/_worklist.html")
def coordinator_worklist(user):
    """The coordinator's open queries, oldest first, with their age (two database queries)."""
    items, total = worklist(user)
    return {
        "show": access.can_answer_queries(user),
        "items": items,
        "total": total,
        "oversee": access.can_oversee_queries(user),
    }


@register.inclusion_tag("queries/_patient_panel.html", takes_context=True)
def patient_queries_panel(context, patient):
    """The patient's queries (all states, newest first) on the patient page."""
    user = context["request"].user
    queries = list(queries_for(user, patient=patient.pk).order_by("-created_at", "-pk")[:50])
    return {
        "queries": queries,
        "patient": patient,
        "can_raise": access.can_raise_queries(user),
        "RecordType": RecordType,
    }


@register.filter
def can_oversee_queries(user):
    return access.can_oversee_queries(user)
