from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CutsConfig(AppConfig):
    """Data cuts: a frozen, named state of the data the analyses can be re-run on."""

    name = "registry.cuts"
    label = "cuts"
    verbose_name = _("Data cuts")
