from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SignaturesConfig(AppConfig):
    """Electronic signatures (21 CFR Part 11): casebooks, data cuts and reports at a cut."""

    name = "registry.signatures"
    label = "signatures"
    verbose_name = _("Electronic signatures")
