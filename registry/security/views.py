"""The two-factor pages (overview, enrolment, verification) and the security events CSV."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .. import access
from . import events, twofactor
from .forms import CodeForm, EnrolForm
from .models import SecurityEvent


def _to(name, next_url):
    return redirect(f"{resolve_url(name)}?{urlencode({'next': next_url})}")


def _next_url(request):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@login_required
@require_http_methods(["GET"])
def overview(request):
    user = request.user
    return render(
        request,
        "security/two_factor.html",
        {
            "enrolled": twofactor.has_second_factor(user),
            "verified": twofactor.is_verified(request),
            "required": twofactor.required_for(user) or access.must_use_second_factor(user),
            "enforced": twofactor.enforced(),
            "codes_left": twofactor.recovery_codes_left(user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def enrol(request):
    if not twofactor.may_enrol(request):
        messages.info(request, _("Verify your current second factor before setting up a new one."))
        return _to("security:verify", resolve_url("security:enrol"))
    device = twofactor.unconfirmed_authenticator(request.user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = twofactor.confirm(request, device, form.cleaned_data["code"])
        if codes is not None:
            return _show_recovery_codes(request, codes, _("Two-factor sign-in is on."))
        form.add_error(
            "code", _("That code is not right (or has expired). Check the time on your device and try again.")
        )
    return render(
        request,
        "security/enrol.html",
        {
            "form": form,
            "secret": twofactor.secret(device),
            "uri": device.config_url,
            "qr": mark_safe(twofactor.qr_svg(device)),  # segno's SVG: markup generated here, not user input
            "next": _next_url(request),
        },
    )


def _show_recovery_codes(request, codes, title):
    response = render(
        request, "security/recovery_codes.html", {"codes": codes, "title": title, "next": _next_url(request)}
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    if not twofactor.has_second_factor(request.user):
        return _to("security:enrol", _next_url(request))
    if twofactor.is_verified(request):
        return redirect(_next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if twofactor.verify(request, form.cleaned_data["code"]):
            return redirect(_next_url(request))
        form.add_error("code", _("That code is not right, or the recovery code was already used."))
    return render(request, "security/verify.html", {"form": form, "next": _next_url(request)})


def _require_verified(request):
    """Changing the second factor needs it verified in this session (if the user has one)."""
    return twofactor.has_second_factor(request.user) and not twofactor.is_verified(request)


@login_required
@require_POST
def recovery_codes(request):
    if _require_verified(request) or not twofactor.has_second_factor(request.user):
        return _to("security:verify", resolve_url("security:two-factor"))
    codes = twofactor.new_recovery_codes(request)
    return _show_recovery_codes(request, codes, _("New recovery codes"))


@login_required
@require_POST
def remove(request):
    if _require_verified(request):
        return _to("security:verify", resolve_url("security:two-factor"))
    twofactor.remove(request)
    if access.must_use_second_factor(request.user) and twofactor.enforced():
        messages.warning(request, _("Your role needs a second factor: set up an authenticator again."))
        return redirect("security:enrol")
    messages.success(request, _("Two-factor sign-in is off."))
    return redirect("security:two-factor")


@login_required
@require_http_methods(["GET"])
def events_csv(request):
    """All security events as CSV, for admins; the download is itself an event."""
    access.require_audit(request.user)
    content = events.export_csv(request=request, events=SecurityEvent.objects.all())
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="security-events-{stamp}.csv"'
    return response
