"""Request middleware of operations.

``RequestIdMiddleware`` (first in the list): gives every request an id (a sane X-Request-ID from
the client or proxy is kept), binds it for the log lines written meanwhile, answers it in the
X-Request-ID header, writes the access log line (method, path, status, duration, user) and makes
every error under /api/ a problem document (``registry.ops.problems``), whichever layer produced
it: DRF, Django's 404 for an unknown URL, or an unhandled exception (503 for a database outage).

``IdempotencyMiddleware`` (last): an API POST with an ``Idempotency-Key`` header is executed once
per user and key; a retry gets the first response again (header ``Idempotent-Replayed: true``)
and writes nothing. The view runs in one transaction with the stored response, so a request
whose worker died mid-way left neither; a 5xx is not kept (the retry runs again).
"""

import hashlib
import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.signals import got_request_exception
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.http import HttpResponse
from django.utils import timezone
from django.utils.functional import empty
from django.utils.translation import gettext as _

from . import context, problems
from .models import IdempotencyKey

access_log = logging.getLogger("registry.access")
log = logging.getLogger(__name__)

REPLAYED_HEADERS = ("Location", "ETag", "Retry-After")


@receiver(got_request_exception)
def _remember_exception(sender, request=None, **kwargs):
    import sys

    if request is not None:
        request.ops_exception = sys.exc_info()[1]


def _username(request):
    """The user who made the request, if authentication already ran (never queries the database)."""
    user = request.__dict__.get("user")
    if user is None or getattr(user, "_wrapped", None) is empty:
        return ""
    return user.get_username() if getattr(user, "is_authenticated", False) else ""


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = context.new_request_id(request.headers.get("X-Request-ID", ""))
        request.request_id = request_id
        tokens = context.bind(request_id=request_id, user="")
        started = time.perf_counter()
        try:
            nul = [key for key, values in request.GET.lists() if "\x00" in key + "".join(values)]
            if problems.is_api(request) and nul:
                # PostgreSQL cannot hold a NUL character: a query parameter with one is a 400, not a 500.
                response = problems.response(
                    400,
                    _("A query parameter contains a NUL character."),
                    request=request,
                    code="nul_character",
                    errors={key: [_nul_message(key)] for key in nul},
                )
            else:
                response = self.get_response(request)
            if problems.is_api(request) and response.status_code >= 400:
                response = _as_problem(request, response)
            response["X-Request-ID"] = request_id
            user = _username(request)
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(1000 * (time.perf_counter() - started), 1),
                    "user": user,
                    "request_id": request_id,
                },
            )
            return response
        finally:
            context.reset(tokens)


def _nul_message(parameter):
    if parameter == "cursor":
        return _("This cursor is not valid (it contains a NUL character); use the next or previous link as given.")
    return _("This value contains a NUL character, which no field can hold.")


def _as_problem(request, response):
    """The error response as a problem document (already one: unchanged)."""
    if getattr(response, "streaming", False):
        return response
    content_type = response.get("Content-Type", "")
    if content_type.startswith(problems.CONTENT_TYPE):
        return response
    exception = getattr(request, "ops_exception", None)
    if response.status_code >= 500 and exception is not None:
        return problems.for_exception(request, exception)
    data = None
    if content_type.startswith("application/json"):
        try:
            data = json.loads(response.content or b"null")
        except ValueError:
            data = None
    status = response.status_code
    detail, errors, extra = problems.title(status), None, {}
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        detail = data["detail"]
        extra = {key: value for key, value in data.items() if key != "detail"}
    elif isinstance(data, dict) and data:
        detail, errors = _("Invalid input; see errors."), data
    elif isinstance(data, list) and data:
        detail, errors = _("Invalid input; see errors."), {"non_field_errors": data}
    elif status == 404:
        detail = _("No such URL in the API.")
    code = extra.get("code") if isinstance(extra.get("code"), str) else None
    body = problems.document(status, detail, request=request, code=code, errors=errors, extra=extra)
    response.content = json.dumps(body).encode()
    response["Content-Type"] = problems.CONTENT_TYPE
    if response.has_header("Content-Length"):  # set by CommonMiddleware for the old body
        response["Content-Length"] = str(len(response.content))
    return response


# --- Idempotency-Key ------------------------------------------------------------------------------


def _api_user(request):
    """The API caller as DRF's authenticators see it; None if anonymous or not authenticated."""
    from rest_framework.request import Request
    from rest_framework.settings import api_settings

    drf = Request(request, authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES])
    try:
        user = drf.user
    except Exception:  # bad credentials, CSRF: the view answers that itself
        return None
    return user if user is not None and user.is_authenticated else None


def request_hash(request, body):
    """SHA-256 of method, path, query and body (a multipart body without its random boundary)."""
    content_type = request.META.get("CONTENT_TYPE", "")
    kind, _sep, params = content_type.partition(";")
    if kind.strip() == "multipart/form-data" and "boundary=" in params:
        boundary = params.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
        body = body.replace(boundary.encode(), b"BOUNDARY")
    digest = hashlib.sha256()
    for part in (request.method, request.get_full_path(), kind.strip()):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get("Idempotency-Key")
        if key is None or request.method != "POST" or not problems.is_api(request):
            return self.get_response(request)
        if not 1 <= len(key) <= 255 or not key.isprintable():
            return problems.response(
                400,
                _("The Idempotency-Key header must be 1 to 255 printable characters."),
                request=request,
                code="bad-idempotency-key",
            )
        user = _api_user(request)
        if user is None:
            return self.get_response(request)
        try:
            digest = request_hash(request, request.body)
        except RequestDataTooBig:
            return self.get_response(request)  # answered 413 by the API
        fresh_since = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
        IdempotencyKey.objects.filter(user=user, key=key, created_at__lt=fresh_since).delete()
        stored = IdempotencyKey.objects.filter(user=user, key=key).first()
        if stored is not None:
            return _replay(request, stored, digest)
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyKey.objects.create(
                        user=user, key=key, request_hash=digest, status=0, content_type="", body=b""
                    )
            except IntegrityError:  # the same key at the same moment: the first one has committed
                return _replay(request, IdempotencyKey.objects.get(user=user, key=key), digest)
            response = self.get_response(request)
            if response.status_code >= 500 or getattr(response, "streaming", False):
                transaction.set_rollback(True)  # nothing kept: a retry runs again
                return response
            record.status = response.status_code
            record.content_type = response.get("Content-Type", "")
            record.headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
            record.body = response.content
            record.save(update_fields=["status", "content_type", "headers", "body"])
        return response


def _replay(request, stored, digest):
    if stored.request_hash != digest:
        return problems.response(
            422,
            _("This Idempotency-Key was already used for a different request."),
            request=request,
            code="idempotency-key-reused",
        )
    if not stored.status:
        return problems.response(
            409,
            _("A request with this Idempotency-Key is still in progress."),
            request=request,
            code="idempotency-key-in-progress",
            headers={"Retry-After": "1"},
        )
    reply = HttpResponse(bytes(stored.body), status=stored.status, content_type=stored.content_type)
    for name, value in stored.headers.items():
        reply[name] = value
    reply["Idempotent-Replayed"] = "true"
    return reply
