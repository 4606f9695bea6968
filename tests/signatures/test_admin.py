"""The admin shows signatures and their history, and offers no way to add, change or delete one."""

import pytest
from django.urls import reverse

from registry.signatures.models import Signature

from .conftest import sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root-admin", "root@example.org", "a-long-admin-password-1")


def test_the_admin_lists_shows_and_never_changes_a_signature(client, superuser, investigator, patient):
    signature = sign(investigator, patient)
    client.force_login(superuser)
    listing = client.get(reverse("admin:signatures_signature_changelist"))
    assert listing.status_code == 200 and "Keiko Tanaka" in listing.content.decode()
    assert client.get(reverse("admin:signatures_signature_change", args=[signature.pk])).status_code == 200
    assert client.get(reverse("admin:signatures_signature_history", args=[signature.pk])).status_code == 200
    assert client.get(reverse("admin:signatures_signature_add")).status_code == 403
    assert (
        client.post(reverse("admin:signatures_signature_delete", args=[signature.pk]), {"post": "yes"}).status_code
        == 403
    )
    response = client.post(
        reverse("admin:signatures_signature_change", args=[signature.pk]), {"printed_name": "Someone Else"}
    )
    assert response.status_code == 403
    assert Signature.objects.get().printed_name == "Keiko Tanaka"
