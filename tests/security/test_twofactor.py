"""Two-factor rules and services: who must, enrolment, verification, recovery codes once."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.security import twofactor
from registry.security.models import SecurityEvent
from tests.security.conftest import current_code

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind


def _request(user):
    request = RequestFactory().post("/account/two-factor/")
    request.user = user
    request.session = SessionStore()
    request.user.is_verified = lambda: False
    return request


@pytest.mark.parametrize(
    "persona, required",
    [("admin_user", True), ("data_manager", True), ("coordinator", False), ("investigator", False)],
)
def test_admins_and_data_managers_must_use_a_second_factor(request, second_factor_on, persona, required):
    assert twofactor.required_for(request.getfixturevalue(persona)) is required


def test_anyone_who_enrolled_must_use_it(second_factor_on, coordinator, authenticator):
    authenticator(coordinator)
    assert twofactor.required_for(coordinator)


def test_nobody_must_when_enforcement_is_off(admin_user):
    assert not twofactor.required_for(admin_user)


def test_confirming_an_authenticator_makes_ten_recovery_codes_and_replaces_the_old_one(admin_user, authenticator):
    old = authenticator(admin_user)
    device = twofactor.unconfirmed_authenticator(admin_user)
    assert device.pk != old.pk and not device.confirmed
    request = _request(admin_user)

    assert twofactor.confirm(request, device, "000000" if current_code(device) != "000000" else "111111") is None
    assert SecurityEvent.objects.filter(kind=Kind.SECOND_FACTOR_FAILED).count() == 1

    device.throttle_reset()
    codes = twofactor.confirm(request, device, current_code(device))
    assert len(codes) == len(set(codes)) == twofactor.RECOVERY_CODES
    assert list(TOTPDevice.objects.filter(user=admin_user)) == [device]
    assert twofactor.recovery_codes_left(admin_user) == 10
    assert SecurityEvent.objects.filter(kind=Kind.SECOND_FACTOR_ENROLLED, user=admin_user).count() == 1


def test_a_recovery_code_works_once(admin_user, authenticator):
    device = twofactor.unconfirmed_authenticator(admin_user)
    codes = twofactor.confirm(_request(admin_user), device, current_code(device))

    assert twofactor.verify(_request(admin_user), codes[0].upper())  # typed in capitals: still fine
    assert twofactor.recovery_codes_left(admin_user) == 9
    used = SecurityEvent.objects.get(kind=Kind.RECOVERY_CODE_USED)
    assert "9 recovery codes left" in used.detail

    assert not twofactor.verify(_request(admin_user), codes[0])
    assert not StaticToken.objects.filter(token=codes[0]).exists()
    assert SecurityEvent.objects.filter(kind=Kind.SECOND_FACTOR_FAILED).count() == 1


def test_removing_deletes_the_authenticator_and_the_codes(admin_user):
    device = twofactor.unconfirmed_authenticator(admin_user)
    twofactor.confirm(_request(admin_user), device, current_code(device))
    twofactor.remove(_request(admin_user))
    assert not twofactor.has_second_factor(admin_user) and twofactor.recovery_codes_left(admin_user) == 0
    assert SecurityEvent.objects.filter(kind=Kind.SECOND_FACTOR_REMOVED).exists()


def test_the_qr_code_is_inline_svg_of_the_otpauth_uri(admin_user):
    device = twofactor.unconfirmed_authenticator(admin_user)
    assert device.config_url.startswith("otpauth://totp/MLL%20registry%3Aregistry-admin?")
    svg = twofactor.qr_svg(device)
    assert svg.startswith("<svg") and "<script" not in svg
    assert len(twofactor.secret(device)) == 32  # base32 of 20 bytes
