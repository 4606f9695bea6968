"""The vocabulary pages: the regimen list, the data manager's mapping page (roles, audit, the
frozen refusal) and the pick list on the salvage entry form."""

import pytest

from registry.cuts import services as cuts
from registry.models import SalvageLine
from registry.vocabularies.models import Regimen, RegimenAlias, forget_cached
from tests.factories import trial
from tests.vocabularies.test_models import relapsed_patient, salvage_line

PERSONAS = ["coordinator", "investigator", "center_investigator", "data_manager", "admin_user", "outsider", "anonymous"]


@pytest.fixture
def uncoded(center):
    """Three uncoded lines: two spellings of one text (two patients) and another text."""
    first = salvage_line(relapsed_patient(center=center, study_id="MLL96-0001"), regimen="Flu/AraC local")
    second = salvage_line(relapsed_patient(center=center, study_id="MLL96-0002"), regimen="flu/arac  LOCAL")
    third = salvage_line(relapsed_patient(center=center, study_id="MLL96-0003"), regimen="Clofarabine mono")
    return first, second, third


def map_text(client, text="Flu/AraC local", regimen="FLAG", reason="protocol appendix lists it as FLAG"):
    return client.post("/vocabularies/uncoded/", {"text": text, "regimen": regimen, "reason": reason})


@pytest.mark.parametrize("persona", PERSONAS)
def test_who_reaches_the_mapping_page(login, persona, uncoded):
    client = login(persona)
    page = client.get("/vocabularies/uncoded/")
    allowed = persona in ("data_manager", "admin_user")
    assert page.status_code == {"anonymous": 302}.get(persona, 200 if allowed else 403)
    posted = map_text(client)
    assert posted.status_code == (302 if allowed or persona == "anonymous" else 403)
    assert SalvageLine.objects.filter(regimen_code="FLAG").count() == (2 if allowed else 0)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_role_reads_the_regimen_list_and_the_menu_shows_the_mapping_page_to_coders(login, persona, uncoded):
    page = login(persona).get("/vocabularies/regimens/")
    assert page.status_code == {"anonymous": 302, "outsider": 403}.get(persona, 200)
    if page.status_code == 200:
        body = page.content.decode()
        assert "MLL98-RESCUE" in body and "tisagenlecleucel" in body
        assert ('href="/vocabularies/uncoded/"' in body) == (persona in ("data_manager", "admin_user"))


def test_the_page_groups_uncoded_texts_with_counts(login, uncoded):
    body = login("data_manager").get("/vocabularies/uncoded/").content.decode()
    assert "Flu/AraC local" in body and "flu/arac  LOCAL" in body  # the other spelling is shown
    row = body[body.index("Flu/AraC local") : body.index("Clofarabine mono")]
    assert '<td class="num">2</td>' in row  # two lines, two patients


def test_mapping_codes_every_line_of_the_text_with_the_reason_in_the_trail(login, uncoded, data_manager):
    first, second, third = uncoded
    response = map_text(login("data_manager"))
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    third.refresh_from_db()
    assert (first.regimen_code, second.regimen_code, third.regimen_code) == ("FLAG", "FLAG", "")
    assert first.regimen == "Flu/AraC local"  # the text stays as entered
    assert first.version == 2
    latest = first.history.order_by("-history_id").first()
    assert latest.regimen_code == "FLAG" and latest.history_user == data_manager
    assert latest.history_change_reason == "protocol appendix lists it as FLAG"
    alias = RegimenAlias.objects.get()
    assert (alias.text, alias.regimen_id, alias.created_by) == ("flu/arac local", "FLAG", data_manager)
    # The same text entered later is coded at once.
    forget_cached()
    assert salvage_line(regimen="FLU/ARAC local").regimen_code == "FLAG"
    follow = login("data_manager").get("/vocabularies/uncoded/").content.decode()
    assert "coded as FLAG" in follow  # the message
    assert '<th scope="row">Flu/AraC local' not in follow and '<th scope="row">Clofarabine mono' in follow


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reason": ""}, "This field is required."),
        ({"regimen": "NO-SUCH"}, "Choose an active regimen code from the list."),
        ({"text": "never entered"}, "No uncoded salvage line has the regimen"),
    ],
)
def test_bad_input_changes_nothing_and_says_why(login, uncoded, data, message):
    response = map_text(login("data_manager"), **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SalvageLine.objects.exclude(regimen_code="").exists()
    assert not RegimenAlias.objects.exists()


def test_an_inactive_regimen_cannot_be_chosen(login, uncoded):
    Regimen.objects.filter(code="ICE").update(active=False)
    response = map_text(login("data_manager"), regimen="ICE")
    assert response.status_code == 400 and not SalvageLine.objects.filter(regimen_code="ICE").exists()


def test_a_data_cut_in_force_refuses_the_mapping_and_names_itself(login, uncoded, data_manager):
    cuts.create_cut(user=data_manager, name="MLL96 final", trial=trial("MLL96").code, source="test")
    response = map_text(login("data_manager"))
    assert response.status_code == 400
    assert "MLL96 final" in response.content.decode()
    assert not SalvageLine.objects.exclude(regimen_code="").exists() and not RegimenAlias.objects.exists()


def test_the_entry_form_offers_the_active_regimens_and_codes_a_pick(login, coordinator, center):
    patient = relapsed_patient(center=center)
    client = login("coordinator")
    form = client.get(f"/patients/{patient.pk}/salvage/new/").content.decode()
    assert '<datalist id="id_regimen_list">' in form and 'list="id_regimen_list"' in form
    assert '<option value="MLL98 rescue"' in form
    assert "a data manager codes it later" in form
    start = patient.diagnosis_date.replace(year=patient.diagnosis_date.year + 1)
    data = {"agents": "x", "start_date": start.isoformat(), "response": "PR", "response_date": ""}
    client.post(f"/patients/{patient.pk}/salvage/new/", {**data, "regimen": "MLL98 rescue"})
    assert SalvageLine.objects.get(patient=patient).regimen_code == "MLL98-RESCUE"


def test_editing_the_text_recodes_and_an_unchanged_text_keeps_a_mapped_code(login, coordinator, center):
    line = salvage_line(relapsed_patient(center=center), regimen="local protocol", regimen_code="ICE")
    client = login("coordinator")
    url = f"/salvage/{line.pk}/edit/"
    page = client.get(url).content.decode()
    assert "Coded as ICE." in page
    data = {
        "regimen": "local protocol",
        "agents": line.agents,
        "start_date": line.start_date.isoformat(),
        "response": "CR",
        "response_date": line.response_date.isoformat(),
        "reason": "response re-read",
        "version": line.version,
    }
    assert client.post(url, data).status_code == 302
    line.refresh_from_db()
    assert line.regimen_code == "ICE"
    client.post(url, {**data, "regimen": "something else", "version": line.version})
    line.refresh_from_db()
    assert (line.regimen, line.regimen_code) == ("something else", "")
    assert "Not coded yet" in client.get(url).content.decode()
