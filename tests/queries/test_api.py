"""/api/v1/queries/ and /api/v1/verifications/: the workflow, filters, roles and scoping."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from registry.queries.models import DataQuery

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(request):
    def as_persona(persona):
        client = APIClient()
        client.force_authenticate(request.getfixturevalue(persona))
        return client

    return as_persona


def raise_one(api, relapse, **overrides):
    body = {"record_type": "relapse", "record_id": relapse.pk, "field": "relapse_date", "message": "Check the date."}
    return api("data_manager").post(reverse("api:query-list"), {**body, **overrides}, format="json")


def test_raise_answer_close_reopen_by_api(api, relapse, coordinator):
    response = raise_one(api, relapse)
    assert response.status_code == 201, response.data
    assert response.data["status"] == "open" and response.data["field"] == "relapse_date"
    pk = response.data["id"]
    answer = api("coordinator").post(reverse("api:query-answer", args=[pk]), {"message": "Corrected."}, format="json")
    assert answer.status_code == 200 and answer.data["status"] == "answered"
    close = api("data_manager").post(reverse("api:query-close", args=[pk]), {"message": "Thanks."}, format="json")
    assert close.data["status"] == "closed"
    reopen = api("data_manager").post(reverse("api:query-reopen", args=[pk]), {"message": "Again."}, format="json")
    assert reopen.data["status"] == "open"
    assert [m["action"] for m in reopen.data["messages"]] == ["raise", "answer", "close", "reopen"]
    assert reopen.data["messages"][1]["author"] == coordinator.username


def test_the_other_centers_coordinator_gets_404_and_an_empty_list(api, relapse):
    pk = raise_one(api, relapse).data["id"]
    client = api("other_coordinator")
    assert client.get(reverse("api:query-detail", args=[pk])).status_code == 404
    assert client.post(reverse("api:query-answer", args=[pk]), {"message": "x"}, format="json").status_code == 404
    assert client.get(reverse("api:query-list")).data["count"] == 0


@pytest.mark.parametrize("persona", ["coordinator", "investigator", "admin_user"])
def test_only_data_managers_raise_by_api(api, relapse, persona):
    body = {"record_type": "relapse", "record_id": relapse.pk, "message": "?"}
    assert api(persona).post(reverse("api:query-list"), body, format="json").status_code == 403


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"field": "colour"}, "field"),
        ({"record_type": "lab"}, "record_type"),
        ({"record_id": 0}, "record_id"),
        ({"message": ""}, "message"),
    ],
)
def test_bad_input_is_a_400_by_field(api, relapse, overrides, field):
    response = raise_one(api, relapse, **overrides)
    assert response.status_code == 400 and field in response.data


def test_list_filters(api, relapse, other_patient):
    raise_one(api, relapse)
    DataQuery.objects.update(created_at=DataQuery.objects.get().created_at.replace(year=2020))
    client = api("data_manager")
    url = reverse("api:query-list")
    assert client.get(url, {"status": "open", "center": "TKY01", "patient": "MLL96-0001"}).data["count"] == 1
    assert client.get(url, {"age": 30, "rule": "manual"}).data["count"] == 1
    assert client.get(url, {"status": "closed"}).data["count"] == 0
    assert client.get(url, {"rule": "hsct_without_status"}).data["count"] == 0
    assert client.get(url, {"status": "pending"}).status_code == 400
    assert client.get(url, {"age": "old"}).status_code == 400


def test_verification_marks_by_api(api, relapse, coordinator):
    url = reverse("api:verification-list")
    body = {"record_type": "relapse", "record_id": relapse.pk, "fields": ["site"]}
    response = api("data_manager").post(url, body, format="json")
    assert response.status_code == 201 and [m["field"] for m in response.data] == ["site"]
    assert response.data[0]["still_verified"] is True
    assert api("coordinator").post(url, body, format="json").status_code == 403
    listed = api("coordinator").get(url, {"record_type": "relapse", "record_id": relapse.pk}).data
    assert listed["count"] == 1 and listed["results"][0]["still_verified"] is True
    assert api("other_coordinator").get(url).data["count"] == 0
