"""The salvage line's regimen code through the API: read, written as a code string, validated,
coded from a new or changed text when left out, kept when the text stays."""

from datetime import timedelta

import pytest

from registry.models import SalvageLine
from registry.vocabularies.models import Regimen
from tests.api.conftest import client_for
from tests.vocabularies.test_models import relapsed_patient

URL = "/api/v1/salvage-lines/"


@pytest.fixture
def patient(center):
    return relapsed_patient(center=center, study_id="MLL96-0001")


def new_line(patient, **fields):
    start = patient.relapses.get().relapse_date + timedelta(days=7)
    return {
        "patient": patient.pk,
        "regimen": "FLAG",
        "agents": "fludarabine, cytarabine",
        "start_date": start.isoformat(),
        "response": "PR",
        **fields,
    }


def test_a_listed_name_is_coded_and_the_code_is_read_back(coordinator, patient):
    response = client_for(coordinator).post(URL, new_line(patient, regimen="MLL98 rescue"), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["regimen_code"] == "MLL98-RESCUE"
    assert client_for(coordinator).get(f"{URL}{response.json()['id']}/").json()["regimen_code"] == "MLL98-RESCUE"


def test_other_text_stays_uncoded_and_a_given_code_is_taken_case_insensitively(coordinator, patient):
    client = client_for(coordinator)
    other = client.post(URL, new_line(patient, regimen="local relapse block"), format="json").json()
    assert other["regimen_code"] == ""
    line = SalvageLine.objects.get(pk=other["id"])
    response = client.patch(
        f"{URL}{line.pk}/",
        {"regimen_code": "ice", "reason": "coded from the protocol"},
        format="json",
        HTTP_IF_MATCH=f'W/"{line.version}"',
    )
    assert response.status_code == 200, response.json()
    assert response.json()["regimen_code"] == "ICE" and response.json()["regimen"] == "local relapse block"
    # A change of another field keeps the code; a new text without a code is coded again.
    line.refresh_from_db()
    kept = client.patch(
        f"{URL}{line.pk}/", {"response": "NR", "reason": "re-read"}, format="json", HTTP_IF_MATCH=f'W/"{line.version}"'
    )
    assert kept.json()["regimen_code"] == "ICE"
    line.refresh_from_db()
    recoded = client.patch(
        f"{URL}{line.pk}/",
        {"regimen": "FLAG-IDA", "reason": "typo"},
        format="json",
        HTTP_IF_MATCH=f'W/"{line.version}"',
    )
    assert recoded.json()["regimen_code"] == "FLAG-IDA"


@pytest.mark.parametrize(
    ("code", "message"),
    [("NO-SUCH", "Unknown regimen code 'NO-SUCH'"), (7, "Must be a string."), ("ICE", "inactive")],
)
def test_a_bad_code_is_refused_naming_the_field(coordinator, patient, code, message):
    Regimen.objects.filter(code="ICE").update(active=False)
    response = client_for(coordinator).post(URL, new_line(patient, regimen_code=code), format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()["regimen_code"])
    assert not SalvageLine.objects.filter(patient=patient).exists()


def test_the_schema_documents_the_code(coordinator):
    schema = client_for(coordinator).get("/api/schema/?format=json").json()
    field = schema["components"]["schemas"]["SalvageLine"]["properties"]["regimen_code"]
    assert field["type"] == "string" and "registry's list" in field["description"]
