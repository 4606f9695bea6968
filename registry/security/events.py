"""Record security events, and export them as CSV.

``record(kind, request=..., user=..., detail=...)`` is the one way to write an event. Without a
``request`` it takes the request being served, if any (``RequestContextMiddleware`` keeps it), so
a service called from a page (an export, a password change) still records the address and the
browser; from a shell or a worker both stay empty.
"""

import contextvars
import csv
import io
from datetime import UTC

from django.utils.translation import gettext as _

from ..transfer import spreadsheet
from .models import SecurityEvent

Kind = SecurityEvent.Kind

_current_request = contextvars.ContextVar("registry_security_request", default=None)

CSV_COLUMNS = ["when_utc", "kind", "user", "username", "ip_address", "user_agent", "path", "detail", "reason"]


REQUEST_USER = object()


def current_request():
    """The request being served (``RequestContextMiddleware``), or None."""
    return _current_request.get()


def record(kind, *, request=None, user=REQUEST_USER, username="", detail="", reason=""):
    """Write one ``SecurityEvent`` of ``kind`` (a ``SecurityEvent.Kind``) and return it.

    ``user`` (who acted) defaults to the request's authenticated user, None for nobody;
    ``username`` to that user's name (give it for failures, where only the typed name is known).
    """
    request = request if request is not None else _current_request.get()
    if user is REQUEST_USER:
        candidate = getattr(request, "user", None)
        user = candidate if candidate is not None and candidate.is_authenticated else None
    if user is not None and not getattr(user, "pk", None):
        user = None
    if not username and user is not None:
        username = user.get_username()
    return SecurityEvent.objects.create(
        kind=kind,
        user=user,
        username=(username or "")[:150],
        ip_address=_ip_address(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else "",
        path=request.path[:300] if request is not None else "",
        detail=str(detail),
        reason=str(reason),
    )


def _ip_address(request):
    if request is None:
        return None
    from axes.helpers import get_client_ip_address  # the address axes locks out, proxies considered

    return get_client_ip_address(request) or None


class request_context:
    """``with request_context(request):`` makes ``request`` the default of ``record``."""

    def __init__(self, request):
        self.request = request

    def __enter__(self):
        self.token = _current_request.set(self.request)
        return self.request

    def __exit__(self, *exc):
        _current_request.reset(self.token)


def csv_bytes(events):
    """The events as CSV (UTF-8), formula-looking text neutralised for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for event in events.select_related("user").order_by("at", "id"):
        values = [
            event.at.astimezone(UTC).isoformat(),
            event.kind,
            event.user.get_username() if event.user_id else "",
            event.username,
            event.ip_address or "",
            event.user_agent,
            event.path,
            event.detail,
            event.reason,
        ]
        writer.writerow([spreadsheet.neutralise(str(v)) for v in values])
    return out.getvalue().encode("utf-8")


def export_csv(*, request, events):
    """The CSV of ``events`` for download, itself recorded as an export."""
    content = csv_bytes(events)
    record(
        Kind.EXPORT,
        request=request,
        detail=_("security events CSV (%(n)d events)") % {"n": events.count()},
    )
    return content
