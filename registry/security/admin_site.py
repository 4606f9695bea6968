"""The Django admin site with the two-factor rule: staff who must use a second factor get in only
after verifying it (the same rule as every other page, ``twofactor.pending``)."""

from django.contrib.admin import AdminSite

from . import twofactor


class VerifiedAdminSite(AdminSite):
    def has_permission(self, request):
        return super().has_permission(request) and not twofactor.pending(request)
