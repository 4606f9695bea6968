"""The query pages: the whole workflow by page, the other center's 404, the oversight pages' roles."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse

from registry.models import Relapse
from registry.queries import services
from registry.queries.models import DataQuery

pytestmark = pytest.mark.django_db


def test_raise_answer_correct_with_the_reason_prefilled_and_close_by_page(
    client, relapse, data_manager, coordinator, other_coordinator
):
    client.force_login(data_manager)
    new = reverse("queries:new", args=["relapse", relapse.pk])
    assert client.get(new + "?field=relapse_date").status_code == 200
    response = client.post(new, {"field": "relapse_date", "message": "Marrow report says 3 days earlier?"})
    query = DataQuery.objects.get()
    assert response.status_code == 302 and response.url == reverse("queries:detail", args=[query.pk])

    client.force_login(coordinator)
    home = client.get(reverse("registry:patient-list")).content.decode()
    assert f"Q{query.pk}" in home and "worklist-table" in home
    patient_page = client.get(reverse("registry:patient-detail", args=[relapse.patient_id])).content.decode()
    assert "1 open query" in patient_page
    detail = client.get(reverse("queries:detail", args=[query.pk])).content.decode()
    edit_url = f"{reverse('registry:event-edit', args=['relapse', relapse.pk])}?query={query.pk}"
    assert edit_url in detail
    edit = client.get(edit_url).content.decode()
    assert f"Answer to query #{query.pk}: Marrow report says 3 days earlier?" in edit and "1 open query" in edit

    answer = reverse("queries:action", args=[query.pk, "answer"])
    assert client.post(answer, {"message": "Yes, corrected."}).status_code == 302
    corrected = relapse.relapse_date - timedelta(days=3)
    response = client.post(
        reverse("registry:event-edit", args=["relapse", relapse.pk]),
        {
            "relapse_date": corrected.isoformat(),
            "site": relapse.site,
            "reason": f"Answer to query #{query.pk}: Marrow report says 3 days earlier?",
            "version": relapse.version,
        },
    )
    assert response.status_code == 302
    assert Relapse.objects.get(pk=relapse.pk).relapse_date == corrected

    client.force_login(other_coordinator)
    assert client.get(reverse("queries:detail", args=[query.pk])).status_code == 404
    assert client.post(answer, {"message": "not mine"}).status_code == 404

    client.force_login(data_manager)
    close = reverse("queries:action", args=[query.pk, "close"])
    assert client.post(close, {"message": "Thank you."}).status_code == 302
    query.refresh_from_db()
    assert query.status == "closed"
    page = client.get(reverse("queries:detail", args=[query.pk])).content.decode()
    assert corrected.isoformat() in page and relapse.relapse_date.isoformat() in page  # the field's history
    assert page.count("<td>Open</td>") == 1 and "<td>Answered</td>" in page and "<td>Closed</td>" in page
    assert "Answer to query" in page  # the correction's reason, in the field's history


def test_an_empty_message_is_refused_with_a_message(client, relapse, data_manager):
    query = services.raise_query(
        user=data_manager, record_type="relapse", record_id=relapse.pk, message="Check", source="test"
    )
    client.force_login(data_manager)
    response = client.post(reverse("queries:action", args=[query.pk, "close"]), {"message": ""})
    assert response.status_code == 400 and "This field is required" in response.content.decode()


@pytest.mark.parametrize(
    "persona, status", [("data_manager", 200), ("admin_user", 200), ("coordinator", 403), ("investigator", 403)]
)
@pytest.mark.parametrize("name", ["queries:dashboard", "queries:dashboard-csv", "queries:quality", "queries:sdv"])
def test_oversight_pages_are_for_data_managers_and_admins(login, persona, status, name):
    assert login(persona).get(reverse(name)).status_code == status


def test_the_dashboard_csv_counts_by_center(client, relapse, other_patient, data_manager):
    services.raise_query(user=data_manager, record_type="relapse", record_id=relapse.pk, message="?", source="t")
    client.force_login(data_manager)
    response = client.get(reverse("queries:dashboard-csv"))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["center", "open", "answered", "closed"]
    assert rows[1][:4] == ["TKY01", "1", "0", "0"] and rows[-1][:2] == ["all", "1"]


def test_a_coordinator_cannot_raise_and_sees_no_dashboard_link(login, relapse):
    client = login("coordinator")
    assert client.get(reverse("queries:new", args=["relapse", relapse.pk])).status_code == 403
    assert "Data query dashboard" not in client.get(reverse("registry:patient-list")).content.decode()


def test_verification_by_page(client, relapse, data_manager, coordinator):
    client.force_login(data_manager)
    url = reverse("queries:verify", args=["relapse", relapse.pk])
    assert client.post(url, {}).status_code == 302  # the whole record
    page = client.get(url).content.decode()
    assert page.count("badge verified") == 2
    client.force_login(coordinator)
    assert client.post(url, {}).status_code == 403


def test_the_query_list_filters_and_stays_in_scope(login, relapse, other_patient, data_manager):
    for record in (relapse, Relapse.objects.get(patient=other_patient)):
        services.raise_query(user=data_manager, record_type="relapse", record_id=record.pk, message="?", source="t")
    page = login("coordinator").get(reverse("queries:list")).content.decode()
    assert "MLL96-0001" in page and "MLL98-0002" not in page
    page = login("data_manager").get(reverse("queries:list") + "?center=OSK02&status=open").content.decode()
    assert "MLL98-0002" in page and "MLL96-0001" not in page
