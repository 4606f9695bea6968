"""Pagination of the API's lists.

Clinical records (patients and their events) grow with the registry and are paged by cursor:
each page starts where the previous one ended, found through an index, so a page costs the same
at 1,000 or 100,000 patients and no COUNT runs over the whole table. The short lists (centers,
trials, analysis runs, import jobs) keep page numbers and a count.
"""

from functools import reduce
from operator import or_

from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.utils.urls import replace_query_param


class PageSizeMixin:
    """``page_size`` as documented: a whole number from 1 (larger ones are capped); anything else is a 400,
    not silently the default. Left out or empty: the default."""

    page_size_message = _("A whole number of records per page (1 or more) is required.")

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param, "")
        if value == "":
            return self.page_size
        if not value.isascii() or not value.isdigit() or int(value) < 1:
            raise ValidationError({self.page_size_query_param: [self.page_size_message]})
        return min(int(value), self.max_page_size)


class RegistryPagination(PageSizeMixin, PageNumberPagination):
    """``?page=N&page_size=M`` with a ``count``; 50 by default, at most 100 per page. For short lists."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100


class ClinicalRecordPagination(PageSizeMixin, CursorPagination):
    """``?page_size=M``, then the ``next`` and ``previous`` links (``?cursor=...``); 50 by default, at most 100.

    Keyset pagination: the cursor holds the sort key of the last record shown (the first, going
    back), and a page is the records after it: ``WHERE key > position ORDER BY key LIMIT M + 1``.
    The sort key is ``?ordering=`` (or the view's default) plus the primary key unless a field of
    it is unique already, so no record is skipped or repeated however many share a date. Sort
    keys must not be null. Cursors are signed: a changed one is refused with 400, as is one made
    for another ordering. Pages have no count.
    """

    page_size = 50
    page_size_query_param = "page_size"
    page_size_query_description = "Records per page: 50 by default, at most 100."
    max_page_size = 100
    cursor_query_description = "Where the page starts: use the next or previous link of the page before."
    ordering = ("pk",)
    signing_salt = "registry.api.cursor"
    invalid_cursor_message = (
        "This cursor is not valid. Follow the next and previous links as they are, "
        "or leave out the cursor to start again from the first page."
    )
    other_ordering_message = (
        "This cursor belongs to another ordering. Keep the ordering of the links you follow, "
        "or leave out the cursor to start again from the first page."
    )

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.ordering = self.get_ordering(request, queryset, view)
        self.cursor = self.decode_cursor(request)
        reverse = self.cursor is not None and self.cursor.reverse
        ordering = _reversed(self.ordering) if reverse else self.ordering
        queryset = queryset.order_by(*ordering)
        if self.cursor is not None:
            queryset = queryset.filter(_after(ordering, self._values(queryset.model, self.cursor.position)))
        rows = list(queryset[: self.page_size + 1])
        self.page = rows[: self.page_size]
        more = len(rows) > self.page_size
        if reverse:
            self.page.reverse()
            self.has_next, self.has_previous = True, more
        else:
            self.has_next, self.has_previous = more, self.cursor is not None
        self.display_page_controls = self.template is not None and (self.has_next or self.has_previous)
        return self.page

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["required"] = ["next", "previous", "results"]
        response["properties"]["next"]["description"] = "The following page; null on the last one."
        response["properties"]["previous"]["description"] = "The page before; null on the first one."
        return response

    def get_ordering(self, request, queryset, view):
        """The OrderingFilter's ordering (``?ordering=`` or the view's default), made unique with the pk."""
        ordering = None
        for backend in getattr(view, "filter_backends", []):
            if hasattr(backend, "get_ordering"):
                ordering = backend().get_ordering(request, queryset, view)
                break
        ordering = ordering or getattr(view, "ordering", None) or self.ordering
        ordering = [ordering] if isinstance(ordering, str) else list(ordering)
        if not any(_is_unique(queryset.model, term) for term in ordering):
            ordering.append("pk")
        return tuple(ordering)

    def get_next_link(self):
        if not self.has_next:
            return None
        position = self._position(self.page[-1]) if self.page else self.cursor.position
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=position))

    def get_previous_link(self):
        if not self.has_previous:
            return None
        position = self._position(self.page[0]) if self.page else self.cursor.position
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=position))

    def encode_cursor(self, cursor):
        token = signing.Signer(salt=self.signing_salt).sign_object(
            {"o": list(self.ordering), "p": cursor.position, "r": int(cursor.reverse)}
        )
        return replace_query_param(self.base_url, self.cursor_query_param, token)

    def decode_cursor(self, request):
        token = request.query_params.get(self.cursor_query_param)
        if token is None:
            return None
        try:
            data = signing.Signer(salt=self.signing_salt).unsign_object(token)
        except signing.BadSignature:
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None
        if data["o"] != list(self.ordering):
            raise ValidationError({self.cursor_query_param: [self.other_ordering_message]})
        return Cursor(offset=0, reverse=bool(data["r"]), position=data["p"])

    def _position(self, record):
        """The record's sort key, as strings (dates and times in ISO 8601)."""
        values = []
        for term in self.ordering:
            value = record
            for name in term.lstrip("-").split("__"):
                value = getattr(value, name)
            values.append(value.isoformat() if hasattr(value, "isoformat") else str(value))
        return values

    def _values(self, model, position):
        """A cursor's sort key as the fields' Python values (a 400 should a field have changed type since)."""
        try:
            return [_field(model, term).to_python(value) for term, value in zip(self.ordering, position, strict=True)]
        except (DjangoValidationError, ValueError):
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None


def _field(model, term):
    """The model field a sort term names (``-patient__study_id``: the patient's study_id)."""
    *path, name = term.lstrip("-").split("__")
    for step in path:
        model = model._meta.get_field(step).related_model
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


def _is_unique(model, term):
    name = term.lstrip("-")
    if "__" in name:
        return False
    field = _field(model, name)
    return field.unique and not field.null


def _reversed(ordering):
    return tuple(term[1:] if term.startswith("-") else f"-{term}" for term in ordering)


def _after(ordering, values):
    """Records after ``values`` in ``ordering``: (a, b, c) > (x, y, z) as
    ``a > x OR (a = x AND b > y) OR (a = x AND b = y AND c > z)``, ``<`` for descending terms.

    The first term's bound (``a >= x``) is repeated on its own: PostgreSQL can start an index
    scan there, where it would read the ORs from the first record on.
    """
    names = [term.lstrip("-") for term in ordering]
    steps = []
    for i, term in enumerate(ordering):
        beyond = "lt" if term.startswith("-") else "gt"
        steps.append(Q(**dict(zip(names[:i], values[:i], strict=True)), **{f"{names[i]}__{beyond}": values[i]}))
    condition = reduce(or_, steps)
    if len(ordering) > 1:
        condition &= Q(**{f"{names[0]}__{'lte' if ordering[0].startswith('-') else 'gte'}": values[0]})
    return condition
