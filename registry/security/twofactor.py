"""Two-factor sign-in with django-otp: an authenticator app (TOTP) and ten single-use recovery codes.

Who must verify a second factor after the password (``required_for``): admins and data managers
(``access.must_use_second_factor``), and anyone else who chose to enrol, whenever
``settings.REGISTRY_REQUIRE_2FA`` is on. ``pending(request)`` is true until they have verified
in this session; the middleware then lets them reach only the two-factor pages and log out
(``middleware.TwoFactorMiddleware``), and the Django admin refuses them (``admin_site``).

Enrolment creates an unconfirmed TOTP device (a new secret); a code from the app confirms it,
replaces any older authenticator and creates ten recovery codes, shown once. A recovery code is
deleted when used (django-otp's static device). Wrong codes slow down further tries (django-otp
throttling) and are recorded as security events, like enrolment, removal and used recovery codes.
"""

import base64
import re

import django_otp
import segno
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .. import access
from . import events

RECOVERY_CODES = 10
AUTHENTICATOR = "authenticator app"
RECOVERY = "recovery codes"


def enforced():
    """``REGISTRY_REQUIRE_2FA``: off only for tests and, if chosen, the embedded demo."""
    return settings.REGISTRY_REQUIRE_2FA


def has_second_factor(user):
    """True when ``user`` has a confirmed authenticator (recovery codes alone do not count)."""
    return user.is_authenticated and TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def required_for(user):
    """True when ``user`` must verify a second factor after the password."""
    if not enforced() or not user.is_authenticated:
        return False
    return access.must_use_second_factor(user) or has_second_factor(user)


def is_verified(request):
    user = request.user
    return bool(getattr(user, "is_verified", None)) and user.is_verified()


def pending(request):
    """True while the signed-in user must verify a second factor and has not yet in this session."""
    if not hasattr(request, "_second_factor_pending"):
        user = getattr(request, "user", None)
        request._second_factor_pending = user is not None and required_for(user) and not is_verified(request)
    return request._second_factor_pending


def may_enrol(request):
    """A new authenticator needs the old one first: else a stolen password could enrol its own."""
    return not has_second_factor(request.user) or is_verified(request)


# --- enrolment -----------------------------------------------------------------------------------


def unconfirmed_authenticator(user):
    """The user's authenticator awaiting its first code, created with a new secret if there is none."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)


def secret(device):
    """The shared secret in base32, as authenticator apps take it when typed in."""
    return base64.b32encode(device.bin_key).decode("ascii")


def qr_svg(device):
    """The otpauth:// URI of ``device`` as an inline SVG QR code (no script, no data: URL)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, border=2)


def confirm(request, device, code):
    """Confirm ``device`` with a ``code`` from the app: the new recovery codes, or None if the code is wrong.

    The confirmed authenticator replaces any older one, the session counts as verified, and the
    enrolment is recorded.
    """
    user = request.user
    if device.user_id != user.pk or device.confirmed or not device.verify_token(_normalise(code)):
        events.record(events.Kind.SECOND_FACTOR_FAILED, request=request, detail=_("code refused during enrolment"))
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_recovery_codes(user)
        django_otp.login(request, device)
        events.record(
            events.Kind.SECOND_FACTOR_ENROLLED,
            request=request,
            detail=_("authenticator app and %(n)d recovery codes") % {"n": RECOVERY_CODES},
        )
    return codes


def new_recovery_codes(request):
    """Replace the verified user's recovery codes with ten new ones (returned; shown once)."""
    with transaction.atomic():
        codes = _new_recovery_codes(request.user)
        events.record(
            events.Kind.SECOND_FACTOR_ENROLLED, request=request, detail=_("new recovery codes (the old ones are void)")
        )
    return codes


def _new_recovery_codes(user):
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def recovery_codes_left(user):
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def remove(request, *, user=None, detail=""):
    """Delete the authenticator and recovery codes of ``user`` (default: the signed-in user)."""
    user = user or request.user
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        events.record(
            events.Kind.SECOND_FACTOR_REMOVED,
            request=request,
            detail=detail or _("authenticator and recovery codes of %(username)s") % {"username": user.get_username()},
        )
    if user.pk == request.user.pk:
        request.session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)


# --- verification --------------------------------------------------------------------------------


def verify(request, code):
    """Check a code from the app or a recovery code; on success the session counts as verified.

    Returns True or False. A recovery code works once.
    """
    user = request.user
    code = _normalise(code)
    # Six digits go to the app's device, anything else to the recovery codes: a wrong guess
    # slows down (throttles) only the device it was meant for.
    looks_like_app_code = code.isdigit() and len(code) <= 8
    devices = (TOTPDevice if looks_like_app_code else StaticDevice).objects.devices_for_user(user, confirmed=True)
    for device in devices:
        if django_otp.verify_token(user, device.persistent_id, code) is not None:
            django_otp.login(request, device)
            request._second_factor_pending = False
            if isinstance(device, StaticDevice):
                events.record(
                    events.Kind.RECOVERY_CODE_USED,
                    request=request,
                    detail=_("%(n)d recovery codes left") % {"n": recovery_codes_left(user)},
                )
            return True
    events.record(events.Kind.SECOND_FACTOR_FAILED, request=request, detail=_("code refused at sign-in"))
    return False


def _normalise(code):
    """Codes as people type them: spaces and dashes dropped, letters in lower case."""
    return re.sub(r"[\s-]", "", code or "").lower()
