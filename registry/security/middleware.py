"""Security middleware: the request for security events, the two-factor gate, the CSP header."""

import functools
from urllib.parse import urlencode

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _

from . import events, twofactor


class RequestContextMiddleware:
    """Makes the request being served the default of ``events.record`` (address, browser, user)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with events.request_context(request):
            return self.get_response(request)


class TwoFactorMiddleware:
    """Until a user who must use a second factor has verified it, only the two-factor pages and
    logging out are open: pages redirect to verification (or to enrolment when the user has no
    authenticator yet), ``/api/`` answers 403. API calls with a token carry no session user and
    pass (tokens are issued by an admin and are their own credential)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if twofactor.pending(request) and not self._open(request.path):
            return self._refuse(request)
        return self.get_response(request)

    def _open(self, path):
        """Static files, login, logout, the language switch and the two pages that complete the second factor."""
        if path.startswith(static("")):
            return True
        names = ("login", "logout", "set_language", "security:verify", "security:enrol")
        return path in {reverse(name) for name in names}

    def _refuse(self, request):
        if request.path_info.startswith("/api/"):
            message = _("Verify your second factor on the two-factor page first, or use an API token.")
            return JsonResponse(
                {"type": "about:blank", "title": _("Second factor required"), "status": 403, "detail": message},
                status=403,
                content_type="application/problem+json",
            )
        target = "security:verify" if twofactor.has_second_factor(request.user) else "security:enrol"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


class ContentSecurityPolicyMiddleware:
    """Adds ``settings.CONTENT_SECURITY_POLICY`` to every response that has none of its own
    (a view may set a wider one for itself, as the Swagger UI page does)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


# Swagger UI (drf-spectacular-sidecar) styles itself with an inline <style> block and inline
# styles, and draws icons from data: URLs; its scripts are our static files, as everywhere.
SWAGGER_UI_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def content_security_policy(policy):
    """View decorator: answer with ``policy`` instead of ``settings.CONTENT_SECURITY_POLICY``."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            response["Content-Security-Policy"] = policy
            return response

        return wrapped

    return decorator
