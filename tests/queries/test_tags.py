"""The template tags: badges count open queries only; the edit form's reason is prefilled only from
a query on that very record, which the user may see."""

import pytest
from django.urls import reverse

from registry.models import Relapse
from registry.queries import services

pytestmark = pytest.mark.django_db


def raise_on(record, user, field="site"):
    return services.raise_query(
        user=user, record_type="relapse", record_id=record.pk, field=field, message="Which site?", source="t"
    )


def test_badges_count_open_queries_only(login, relapse, data_manager, coordinator):
    raise_on(relapse, data_manager)
    closed = raise_on(relapse, data_manager)
    services.close_query(user=data_manager, query=closed, message="never mind", source="t")
    page = login("coordinator").get(reverse("registry:patient-detail", args=[relapse.patient_id])).content.decode()
    assert "1 open query" in page and "2 open queries" not in page


def test_the_reason_is_prefilled_only_from_a_query_on_the_same_record(login, relapse, other_patient, data_manager):
    foreign = raise_on(Relapse.objects.get(patient=other_patient), data_manager)
    own = raise_on(relapse, data_manager)
    client = login("coordinator")
    edit = reverse("registry:event-edit", args=["relapse", relapse.pk])
    assert f"Answer to query #{own.pk}" in client.get(f"{edit}?query={own.pk}").content.decode()
    page = client.get(f"{edit}?query={foreign.pk}").content.decode()
    assert "Answer to query" not in page
    assert "Answer to query" not in client.get(f"{edit}?query=nonsense").content.decode()
