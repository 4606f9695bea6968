"""The Django admin: clinical data is read-only there, so it cannot bypass services or the audit."""

import pytest
from django.urls import reverse

from registry.models import Patient, Relapse
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
        {"user": coordinator.pk, "role": "COORDINATOR", "center": other_center.pk},
    )
    assert response.status_code == 302
    history = membership.history.order_by("history_date")
    assert [h.center_id for h in history][-2:] == [membership.center_id, other_center.pk]
    assert history.last().history_user == superuser
