"""The signing form: the meaning, the password again and, at the first signature of a session,
the authenticator's code (``services.second_factor_needed``)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Meaning


class SignForm(forms.Form):
    meaning = forms.ChoiceField(label=_("Meaning of my signature"), choices=Meaning.choices, widget=forms.RadioSelect)
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Your password again: it is asked at every signature."),
    )
    otp_token = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=_("Asked at your first signature of this session (a recovery code works too)."),
    )

    def __init__(self, *args, second_factor=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not second_factor:
            del self.fields["otp_token"]
