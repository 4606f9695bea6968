"""API errors as RFC 9457 problem documents (``application/problem+json``).

Every error under ``/api/`` has the members type, title, status, detail, instance and
request_id (also on the log line of the request, and in the X-Request-ID header); field errors
of a 400 are in ``errors`` (``{field: [messages]}``) and, for clients written before problem
documents, also at the top level where a field name does not clash with a member.
"""

import json
import sys
from http import HTTPStatus

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse
from django.utils.translation import gettext as _

from . import context

CONTENT_TYPE = "application/problem+json"
MEMBERS = ("type", "title", "status", "detail", "instance", "request_id")
# Never overwritten by a field of the same name (a request may well send a field called "errors").
RESERVED = (*MEMBERS, "errors")
API_PREFIX = "/api/"
RETRY_AFTER_SECONDS = 30


def is_api(request):
    return request.path.startswith(API_PREFIX)


def title(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _("Error")


def document(status, detail, *, request=None, code=None, errors=None, extra=None):
    """The problem document (a dict) for an error of HTTP ``status``."""
    problem = {
        "type": f"https://mll-registry.example/problems/{code}" if code else "about:blank",
        "title": title(status),
        "status": status,
        "detail": str(detail),
        "instance": request.get_full_path() if request is not None else "",
        "request_id": context.request_id(),
    }
    if errors:
        problem["errors"] = errors
        problem.update({field: messages for field, messages in errors.items() if field not in RESERVED})
    if extra:
        problem.update({key: value for key, value in extra.items() if key not in RESERVED})
    return problem


def response(status, detail, *, request=None, code=None, errors=None, headers=None):
    """A plain Django response with the problem document (outside DRF: 404 of unknown URLs, 500, 503)."""
    body = json.dumps(document(status, detail, request=request, code=code, errors=errors))
    reply = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        reply[name] = value
    return reply


def database_unavailable(error):
    """True for a database that is down or restarting (answered 503, not 500)."""
    return isinstance(error, (OperationalError, InterfaceError)) or (
        isinstance(error, DatabaseError) and "connection" in str(error).lower()
    )


def for_exception(request, error):
    """The 503 or 500 problem response for an unhandled exception (the log has its traceback)."""
    if database_unavailable(error):
        return response(
            503,
            _("The database is unavailable; try again shortly."),
            request=request,
            code="database-unavailable",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return response(
        500,
        _("Internal error; quote the request id when you report it."),
        request=request,
        code="internal-error",
    )


def handler404(request, exception=None):
    """Django's 404 handler: a problem document under /api/, the usual page elsewhere."""
    if is_api(request):
        return response(404, _("No such URL in the API."), request=request, code="not-found")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    """Django's 500 handler: a problem document (503 for a database outage) under /api/."""
    if is_api(request):
        return for_exception(request, sys.exc_info()[1])
    from django.views.defaults import server_error

    return server_error(request)
