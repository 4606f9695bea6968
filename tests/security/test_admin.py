"""Security events in the admin: viewable and exportable, never added, changed or deleted, not
even by a superuser; axes' login logs read-only; second factors removable (recorded), unreadable."""

import pytest
from axes.models import AccessFailureLog, AccessLog
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.security import events
from registry.security.models import SecurityEvent

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind


@pytest.fixture
def event(coordinator):
    return events.record(Kind.LOGIN_FAILED, user=None, username="coord", detail="wrong password")


def test_the_admin_lists_and_shows_events(client, superuser, event):
    client.force_login(superuser)
    assert "coord" in client.get(reverse("admin:security_securityevent_changelist")).content.decode()
    assert client.get(reverse("admin:security_securityevent_change", args=[event.pk])).status_code == 200


def test_nobody_can_delete_or_change_an_event_in_the_admin(client, superuser, event):
    client.force_login(superuser)
    assert (
        client.post(reverse("admin:security_securityevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    )
    change = client.post(reverse("admin:security_securityevent_change", args=[event.pk]), {"detail": "rewritten"})
    assert change.status_code == 403
    assert client.get(reverse("admin:security_securityevent_add")).status_code == 403
    bulk = client.post(
        reverse("admin:security_securityevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    event.refresh_from_db()
    assert event.detail == "wrong password"
    listing = client.get(reverse("admin:security_securityevent_changelist"))
    assert "delete_selected" not in listing.context["action_form"].fields["action"].choices.__repr__()


def test_the_admin_exports_selected_events_as_csv_and_records_it(client, superuser, event):
    client.force_login(superuser)
    response = client.post(
        reverse("admin:security_securityevent_changelist"), {"action": "export_csv", "_selected_action": [event.pk]}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "wrong password" in response.content.decode()
    assert SecurityEvent.objects.filter(kind=Kind.EXPORT, user=superuser).count() == 1


def test_a_coordinator_with_staff_status_does_not_see_events(client, coordinator):
    coordinator.is_staff = True
    coordinator.save()
    client.force_login(coordinator)
    assert client.get(reverse("admin:security_securityevent_changelist")).status_code == 403


@pytest.mark.parametrize("model", [AccessLog, AccessFailureLog])
def test_axes_login_logs_are_read_only(client, superuser, model):
    row = model.objects.create(username="coord", ip_address="203.0.113.9", user_agent="x", attempt_time=timezone.now())
    client.force_login(superuser)
    name = f"admin:axes_{model._meta.model_name}"
    assert client.get(reverse(f"{name}_change", args=[row.pk])).status_code == 200
    assert client.post(reverse(f"{name}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    client.post(
        reverse(f"{name}_changelist"), {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert model.objects.filter(pk=row.pk).exists()


def test_an_admin_removes_a_lost_second_factor_which_is_recorded(client, superuser, data_manager, authenticator):
    device = authenticator(data_manager)
    client.force_login(superuser)
    page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk])).content.decode()
    assert device.key not in page  # the secret is never shown
    response = client.post(reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=data_manager).exists()
    removed = SecurityEvent.objects.get(kind=Kind.SECOND_FACTOR_REMOVED)
    assert removed.user == superuser and "datamanager" in removed.detail
