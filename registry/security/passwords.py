"""Password rules added to Django's validators, and the password-change security event.

Django tells every validator in ``AUTH_PASSWORD_VALIDATORS`` when a password has been set
(``password_changed``, after the user is saved), whatever the path: the password page, the
admin, ``changepassword``, ``createsuperuser``. ``PasswordChangeEvents`` uses that hook.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from . import events


class RepeatedCharacterValidator:
    """Refuse a password made of one character repeated ("aaaaaaaaaaaa")."""

    def validate(self, password, user=None):
        if password and len(set(password)) == 1:
            raise ValidationError(_("This password is one character repeated."), code="password_repeated_character")

    def get_help_text(self):
        return _("Your password can't be one character repeated.")


class PasswordChangeEvents:
    """Records a security event each time a password is set; validates nothing."""

    def validate(self, password, user=None):
        return None

    def password_changed(self, password, user=None):
        if user is None or not user.pk:
            return
        request = events.current_request()
        signed_in = getattr(request, "user", None)
        events.record(
            events.Kind.PASSWORD_CHANGED,
            user=signed_in if signed_in is not None and signed_in.is_authenticated else user,
            detail=_("password of %(username)s") % {"username": user.get_username()},
        )

    def get_help_text(self):
        return ""
