"""The admin site itself refuses staff who still owe their second factor (even without the middleware)."""

import pytest
from django.contrib import admin
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django_otp.middleware import OTPMiddleware

from registry.security.admin_site import VerifiedAdminSite

pytestmark = pytest.mark.django_db


def _request(user, device=None):
    request = RequestFactory().get("/admin/")
    request.user = user
    request.session = SessionStore()
    OTPMiddleware(lambda r: None)(request)
    if device is not None:
        request.user.otp_device = device
    return request


def test_the_default_admin_site_is_the_verified_one():
    assert isinstance(admin.site._wrapped if hasattr(admin.site, "_wrapped") else admin.site, VerifiedAdminSite)


def test_staff_without_a_verified_second_factor_are_refused(second_factor_on, superuser, authenticator):
    device = authenticator(superuser)
    assert not admin.site.has_permission(_request(superuser))
    assert admin.site.has_permission(_request(superuser, device))


def test_enforcement_off_lets_staff_in(superuser):
    assert admin.site.has_permission(_request(superuser))
