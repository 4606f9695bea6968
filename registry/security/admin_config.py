from django.contrib.admin.apps import AdminConfig


class VerifiedAdminConfig(AdminConfig):
    """The Django admin whose site lets in only users past the second factor (``admin_site``)."""

    default_site = "registry.security.admin_site.VerifiedAdminSite"
