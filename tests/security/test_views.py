"""The two-factor pages: enrolment with QR and recovery codes, sign-in with a code, the events CSV."""

import re

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.security.models import SecurityEvent
from tests.conftest import PASSWORD
from tests.security.conftest import current_code

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind


def _sign_in(client, username):
    return client.post(reverse("login"), {"username": username, "password": PASSWORD, "next": "/audit/"})


def test_an_admin_enrols_sees_ten_recovery_codes_once_and_reaches_the_audit_trail(client, second_factor_on, admin_user):
    response = _sign_in(client, "registry-admin")
    assert client.get(response["Location"]).status_code == 302  # /audit/ -> enrolment
    page = client.get(reverse("security:enrol"), {"next": "/audit/"})
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=admin_user, confirmed=False)
    assert "<svg" in html and "otpauth://totp/" in html and re.sub(r"\s", "", page.context["secret"]) in html

    wrong = client.post(reverse("security:enrol"), {"code": "12345x", "next": "/audit/"})
    assert wrong.status_code == 200 and wrong.context["form"].errors
    device.refresh_from_db()
    device.throttle_reset()

    done = client.post(reverse("security:enrol"), {"code": current_code(device), "next": "/audit/"})
    assert done.status_code == 200 and len(done.context["codes"]) == 10
    assert done["Cache-Control"] == "no-store"
    assert all(code in done.content.decode() for code in done.context["codes"])
    assert client.get("/audit/").status_code == 200
    assert SecurityEvent.objects.filter(kind=Kind.SECOND_FACTOR_ENROLLED, user=admin_user).exists()


def test_sign_in_asks_for_the_code_after_the_password(client, second_factor_on, admin_user, authenticator):
    device = authenticator(admin_user)
    response = _sign_in(client, "registry-admin")
    verify = client.get(response["Location"])
    assert verify.status_code == 302 and verify["Location"].startswith(reverse("security:verify"))

    assert client.post(reverse("security:verify"), {"code": "abcdefgh", "next": "/audit/"}).status_code == 200
    assert client.get("/audit/").status_code == 302

    done = client.post(reverse("security:verify"), {"code": current_code(device), "next": "/audit/"})
    assert done.status_code == 302 and done["Location"] == "/audit/"
    assert client.get("/audit/").status_code == 200


def test_an_unverified_user_cannot_enrol_a_new_authenticator(client, second_factor_on, admin_user, authenticator):
    authenticator(admin_user)
    client.force_login(admin_user)
    response = client.get(reverse("security:enrol"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("security:verify"))
    assert not TOTPDevice.objects.filter(user=admin_user, confirmed=False).exists()


def test_a_verified_user_makes_new_recovery_codes_and_can_turn_it_off(second_factor_on, coordinator, verified_login):
    client = verified_login(coordinator)
    assert client.get(reverse("security:two-factor")).status_code == 200
    codes = client.post(reverse("security:recovery-codes"))
    assert len(codes.context["codes"]) == 10
    removed = client.post(reverse("security:remove"))
    assert removed.status_code == 302 and removed["Location"] == reverse("security:two-factor")
    assert not TOTPDevice.objects.filter(user=coordinator).exists()
    assert client.get(reverse("registry:patient-list")).status_code == 200  # optional for coordinators


def test_admins_download_the_security_events_and_others_may_not(client, admin_user, coordinator):
    client.force_login(coordinator)
    assert client.get(reverse("security:events-csv")).status_code == 403
    client.force_login(admin_user)
    response = client.get(reverse("security:events-csv"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.content.decode().startswith("when_utc,kind,")
    assert SecurityEvent.objects.filter(kind=Kind.EXPORT, user=admin_user).exists()
