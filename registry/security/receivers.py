"""Security events announced as signals by Django (logins, logouts, failures) and django-axes
(lockouts; a lockout reset deletes axes' attempt rows, so it is recorded just before).

Signals are the only hook these libraries offer; the registry's own code records its events by
calling ``events.record`` where they happen (two-factor, admin role changes, exports).
"""

from datetime import timedelta

from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from . import events

Kind = events.Kind


@receiver(user_logged_in, dispatch_uid="security_login")
def logged_in(sender, request, user, **kwargs):
    events.record(Kind.LOGIN, request=request, user=user)


@receiver(user_logged_out, dispatch_uid="security_logout")
def logged_out(sender, request, user, **kwargs):
    if user is not None:
        events.record(Kind.LOGOUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="security_login_failed")
def login_failed(sender, credentials, request=None, **kwargs):
    blocked = request is not None and getattr(request, "axes_locked_out", False)
    events.record(
        Kind.LOGIN_FAILED,
        request=request,
        user=None,
        username=(credentials or {}).get("username") or "",
        detail=_("refused: locked out") if blocked else "",
    )


@receiver(user_locked_out, dispatch_uid="security_locked_out")
def locked_out(sender, request, username, ip_address, **kwargs):
    failures = getattr(request, "axes_failures_since_start", None)
    events.record(
        Kind.LOCKOUT,
        request=request,
        user=None,
        username=username or "",
        detail=_("locked after %(n)s failed attempts from %(ip)s") % {"n": failures or "?", "ip": ip_address},
    )


@receiver(pre_delete, sender=AccessAttempt, dispatch_uid="security_lockout_reset")
def attempts_reset(sender, instance, **kwargs):
    if instance.failures_since_start < settings.AXES_FAILURE_LIMIT:
        return  # a counter cleared before any lockout; each failure is already an event
    expired = timezone.now() - instance.attempt_time >= timedelta(hours=settings.AXES_COOLOFF_TIME)
    detail = _("%(username)s from %(ip)s: %(n)d failed attempts cleared") % {
        "username": instance.username,
        "ip": instance.ip_address,
        "n": instance.failures_since_start,
    }
    events.record(
        Kind.LOCKOUT_RESET,
        detail=detail + (" " + _("(cool-off expired)") if expired else ""),
    )
