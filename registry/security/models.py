"""The security event log: who signed in, failed, was locked out, changed roles, downloaded what.

Append-only: a row is written once and never changed or deleted, by the ORM (``save`` of an
existing row, ``delete`` and the queryset's ``update``/``delete`` raise) and, on PostgreSQL,
by a trigger that refuses UPDATE and DELETE on the table (migration 0001).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

APPEND_ONLY = _("Security events are append-only: they cannot be changed or deleted.")


class AppendOnlyError(Exception):
    pass


class SecurityEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(APPEND_ONLY)

    def delete(self):
        raise AppendOnlyError(APPEND_ONLY)


class SecurityEvent(models.Model):
    class Kind(models.TextChoices):
        LOGIN = "login", _("Login")
        LOGOUT = "logout", _("Logout")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOCKOUT = "lockout", _("Lockout")
        LOCKOUT_RESET = "lockout_reset", _("Lockout reset")
        PASSWORD_CHANGED = "password_changed", _("Password set or changed")
        SECOND_FACTOR_ENROLLED = "2fa_enrolled", _("Second factor enrolled")
        SECOND_FACTOR_REMOVED = "2fa_removed", _("Second factor removed")
        SECOND_FACTOR_FAILED = "2fa_failed", _("Second factor refused")
        RECOVERY_CODE_USED = "recovery_code_used", _("Recovery code used")
        ROLE_CHANGED = "role_changed", _("Role or membership changed")
        EXPORT = "export", _("Export downloaded")

    at = models.DateTimeField(_("when (UTC)"), default=timezone.now, db_index=True)
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # accounts with a security history are deactivated, not deleted
        related_name="+",
    )
    username = models.CharField(_("username"), max_length=150, blank=True, help_text=_("as typed, for failures"))
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    path = models.CharField(_("path"), max_length=300, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    reason = models.TextField(_("reason"), blank=True)

    objects = SecurityEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("security event")
        verbose_name_plural = _("security events")

    def __str__(self):
        return f"{self.get_kind_display()} {self.username} {self.at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(APPEND_ONLY)
