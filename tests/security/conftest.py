"""Two-factor helpers: an authenticator with a known secret, a session that has verified it."""

import pytest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory

KEY = "3132333435363738393031323334353637383930"  # RFC 6238's test secret, hex


def current_code(device):
    """The 6-digit code the authenticator app would show now."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


@pytest.fixture
def superuser(db):
    return UserFactory(username="root-admin", role="ADMIN", is_staff=True, is_superuser=True)


@pytest.fixture
def authenticator():
    """``authenticator(user)``: a confirmed TOTP device with the known secret."""

    def make(user):
        return TOTPDevice.objects.create(user=user, name="authenticator app", key=KEY, confirmed=True)

    return make


@pytest.fixture
def verified_login(client, authenticator):
    """``verified_login(user)``: the client logged in as ``user`` and past the second factor."""

    def log_in(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or authenticator(user)
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return client

    return log_in
