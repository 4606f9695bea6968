from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QueriesConfig(AppConfig):
    """Data management: queries on fields, data-quality rules, source data verification."""

    name = "registry.queries"
    label = "queries"
    verbose_name = _("Data queries and source data verification")
