"""The Django admin: clinical data is read-only there, so it cannot bypass services or the audit."""

import pytest
from django.urls import reverse

from registry.models import Patient, Relapse
from registry.security.models import SecurityEvent
from tests.factories import relapsed_course

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root-admin", "root@example.org", "a-long-admin-password-1")


@pytest.fixture
def course(center):
    return relapsed_course(center=center, study_id="MLL96-0007")


def test_admin_lists_and_shows_clinical_records(client, superuser, course):
    client.force_login(superuser)
    listing = client.get(reverse("admin:registry_patient_changelist"))
    assert listing.status_code == 200
    assert "MLL96-0007" in listing.content.decode()
    detail = client.get(reverse("admin:registry_patient_change", args=[course.pk]))
    assert detail.status_code == 200  # the view-only form
    history = client.get(reverse("admin:registry_patient_history", args=[course.pk]))
    assert history.status_code == 200


@pytest.mark.parametrize(
    "url_name, args",
    [
        ("admin:registry_patient_add", []),
        ("admin:registry_relapse_add", []),
    ],
)
def test_admin_cannot_add_clinical_records(client, superuser, course, url_name, args):
    client.force_login(superuser)
    assert client.get(reverse(url_name, args=args)).status_code == 403


def test_admin_cannot_change_or_delete_clinical_records(client, superuser, course):
    client.force_login(superuser)
    relapse = course.relapses.get()
    change = client.post(reverse("admin:registry_relapse_change", args=[relapse.pk]), {"site": "CNS"})
    assert change.status_code == 403
    delete = client.post(reverse("admin:registry_patient_delete", args=[course.pk]), {"post": "yes"})
    assert delete.status_code == 403
    bulk = client.post(
        reverse("admin:registry_patient_changelist"),
        {"action": "delete_selected", "_selected_action": [course.pk], "post": "yes"},
    )
    assert Patient.objects.filter(pk=course.pk).exists()
    assert bulk.status_code in (200, 302)
    relapse.refresh_from_db()
    assert relapse.site == "BM" and Relapse.history.count() == 1


def test_role_changes_in_the_admin_are_kept_in_history(client, superuser, coordinator, other_center):
    client.force_login(superuser)
    membership = coordinator.membership
    response = client.post(
        reverse("admin:registry_membership_change", args=[membership.pk]),
        {"user": coordinator.pk, "role": "COORDINATOR", "center": other_center.pk, "change_reason": "moved to Osaka"},
    )
    assert response.status_code == 302
    history = membership.history.order_by("history_date")
    assert [h.center_id for h in history][-2:] == [membership.center_id, other_center.pk]
    assert history.last().history_user == superuser
    assert history.last().history_change_reason == "moved to Osaka"


def test_a_role_change_needs_a_reason_and_leaves_a_security_event(client, superuser, coordinator):
    client.force_login(superuser)
    url = reverse("admin:registry_membership_change", args=[coordinator.membership.pk])
    refused = client.post(url, {"user": coordinator.pk, "role": "INVESTIGATOR", "center": ""})
    assert refused.status_code == 200 and "Give the reason" in refused.content.decode()
    coordinator.membership.refresh_from_db()
    assert coordinator.membership.role == "COORDINATOR"

    client.post(url, {"user": coordinator.pk, "role": "INVESTIGATOR", "center": "", "change_reason": "new PI"})
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.ROLE_CHANGED)
    assert event.user == superuser and event.reason == "new PI"
    assert "coord: membership role: Study coordinator -> Investigator" in event.detail
    assert "membership center: TKY01" in event.detail
    delete = client.post(reverse("admin:security_securityevent_delete", args=[event.pk]), {"post": "yes"})
    assert delete.status_code == 403 and SecurityEvent.objects.filter(pk=event.pk).exists()


def _user_change_data(user, **changes):
    membership = user.membership
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "membership-TOTAL_FORMS": "1",
        "membership-INITIAL_FORMS": "1",
        "membership-MIN_NUM_FORMS": "0",
        "membership-MAX_NUM_FORMS": "1",
        "membership-0-id": membership.pk,
        "membership-0-user": user.pk,
        "membership-0-role": membership.role,
        "membership-0-center": membership.center_id or "",
    }
    data.update(changes)
    return data


def test_the_user_page_needs_a_reason_for_a_role_or_staff_change(client, superuser, coordinator):
    client.force_login(superuser)
    url = reverse("admin:auth_user_change", args=[coordinator.pk])
    for change in [{"membership-0-role": "DATA_MANAGER", "membership-0-center": ""}, {"is_staff": "on"}]:
        refused = client.post(url, _user_change_data(coordinator, **change))
        assert refused.status_code == 200 and "Give the reason" in refused.content.decode()
    coordinator.refresh_from_db()
    assert coordinator.membership.role == "COORDINATOR" and not coordinator.is_staff

    unchanged = client.post(url, _user_change_data(coordinator, email="coord@example.org"))
    assert unchanged.status_code == 302 and not SecurityEvent.objects.filter(kind="role_changed").exists()

    done = client.post(
        url,
        _user_change_data(
            coordinator,
            **{"membership-0-role": "DATA_MANAGER", "membership-0-center": "", "is_staff": "on"},
            email="coord@example.org",
            change_reason="promoted to monitor",
        ),
    )
    assert done.status_code == 302
    event = SecurityEvent.objects.get(kind="role_changed")
    assert event.reason == "promoted to monitor"
    assert "is_staff: False -> True" in event.detail and "Data manager / monitor" in event.detail
    assert coordinator.membership.history.latest("history_date").history_change_reason == "promoted to monitor"
