"""The regimen and agent lists in the admin: added and changed with their history, the code fixed, nothing deleted."""

import pytest

from registry.vocabularies.models import Agent, Regimen, code_for_text


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root-admin", "root@example.org", "a-long-admin-password-1")


def test_an_admin_adds_a_regimen_with_its_agents_and_it_is_offered_at_once(client, superuser):
    client.force_login(superuser)
    agents = [Agent.objects.get(code="VCR").pk, Agent.objects.get(code="DEX").pk]
    response = client.post(
        "/admin/vocabularies/regimen/add/",
        {
            "code": "ZZ-LOCAL-R1",
            "name": "Local R1 block",
            "name_ja": "施設R1ブロック",
            "agents": agents,
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    regimen = Regimen.objects.get(code="ZZ-LOCAL-R1")
    assert {a.code for a in regimen.agents.all()} == {"VCR", "DEX"}
    assert {row.history_user for row in regimen.history.all()} == {superuser}
    assert code_for_text("local r1 block") == "ZZ-LOCAL-R1"


def test_a_bad_code_is_refused_beside_the_field(client, superuser):
    client.force_login(superuser)
    response = client.post("/admin/vocabularies/regimen/add/", {"code": "bad code", "name": "X", "active": "on"})
    assert response.status_code == 200 and "Use 2-30 capital letters" in response.content.decode()
    assert not Regimen.objects.filter(name="X").exists()


def test_the_code_is_fixed_and_nothing_is_deleted(client, superuser):
    client.force_login(superuser)
    regimen = Regimen.objects.get(code="ICE")
    page = client.get(f"/admin/vocabularies/regimen/{regimen.pk}/change/").content.decode()
    assert 'name="code"' not in page and 'name="name"' in page
    assert client.post(f"/admin/vocabularies/regimen/{regimen.pk}/delete/", {"post": "yes"}).status_code == 403
    agent = Agent.objects.get(code="IFO")
    assert client.post(f"/admin/vocabularies/agent/{agent.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Regimen.objects.filter(code="ICE").exists() and Agent.objects.filter(code="IFO").exists()
    assert client.get("/admin/vocabularies/regimenalias/add/").status_code == 403
