"""Data cuts in the admin: listed and readable, never added, changed or deleted there."""

import pytest

from registry.cuts import services as cuts
from registry.cuts.models import DataCut


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root-admin", "root@example.org", "a-long-admin-password-1")


def test_the_admin_reads_cuts_and_cannot_change_them(client, superuser, data_manager):
    cut = cuts.create_cut(user=data_manager, name="Interim", source="test")
    client.force_login(superuser)
    assert "Interim" in client.get("/admin/cuts/datacut/").content.decode()
    assert client.get("/admin/cuts/datacut/add/").status_code == 403
    page = client.get(f"/admin/cuts/datacut/{cut.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/cuts/datacut/{cut.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/cuts/datacut/{cut.pk}/change/", {"name": "Renamed"}).status_code == 403
    assert DataCut.objects.get().name == "Interim"
