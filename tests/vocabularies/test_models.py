"""The regimen list and the salvage line's regimen code: seeded lists, coding from text, validation,
the database's refusals, the starting lists restored after a flush."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from registry import services
from registry.models import SalvageLine
from registry.vocabularies import standard
from registry.vocabularies.models import (
    Agent,
    Regimen,
    RegimenAlias,
    code_for_text,
    normalise,
    regimen_codes,
)
from tests.factories import FirstLineResponseFactory, PatientFactory, RelapseFactory, SalvageLineFactory


def relapsed_patient(**kwargs):
    """A patient in CR1 who relapsed: ready for a salvage line."""
    patient = PatientFactory(**kwargs)
    FirstLineResponseFactory(patient=patient)
    RelapseFactory(patient=patient)
    return patient


def salvage_line(patient=None, **kwargs):
    return SalvageLineFactory(patient=patient or relapsed_patient(), **kwargs)


def test_the_starting_lists_hold_the_mll_regimens_and_common_salvage_protocols(db):
    codes = set(Regimen.objects.values_list("code", flat=True))
    assert {"FLAG", "HDARAC-VP16", "MLL98-RESCUE", "VPDL", "ICE", "MIT-VP16"} <= codes  # given after MLL96/98
    assert {"FLAG-IDA", "CLO-VP16-CPM", "BLINA", "INO", "ALL-REZ-BFM", "UKALL-R3-MIT", "HD-MTX", "CART-TISA"} <= codes
    assert {a.code for a in Regimen.objects.get(code="FLAG").agents.all()} == {"FLU", "ARAC", "GCSF"}
    assert Agent.objects.get(code="TISA").name == "tisagenlecleucel"
    assert all(r.name_ja for r in Regimen.objects.all())


def test_ensure_recreates_missing_entries_and_changes_no_existing_one(db):
    Regimen.objects.filter(code="FLAG").update(name="FLAG (renamed)", active=False)
    RegimenAlias.objects.all().delete()
    Regimen.objects.filter(code="HD-MTX").delete()
    standard.ensure()
    assert Regimen.objects.get(code="FLAG").name == "FLAG (renamed)"  # the admin's change stays
    assert Regimen.objects.get(code="HD-MTX").agents.get().code == "MTX"


def test_normalise_ignores_case_spacing_and_full_width_forms():
    assert normalise("  ｆｌａｇ  ") == "flag"
    assert normalise("MLL98   Rescue") == "mll98 rescue"


def test_a_text_is_coded_by_code_name_japanese_name_or_mapped_text(db, data_manager):
    assert code_for_text("flag") == "FLAG"
    assert code_for_text("MLL98 rescue") == "MLL98-RESCUE"
    assert code_for_text("ＭＬＬ９８救援療法") == "MLL98-RESCUE"
    assert code_for_text("fludarabine + araC") == ""
    RegimenAlias.objects.create(text="Fludarabine + AraC", regimen_id="FLAG", created_by=data_manager)
    assert code_for_text("fludarabine  +  araC") == "FLAG"


def test_an_inactive_regimen_is_not_offered_for_new_text(db):
    regimen = Regimen.objects.get(code="ICE")
    regimen.active = False
    regimen.save()
    assert code_for_text("ICE") == ""
    assert "ICE" in regimen_codes()  # lines keep it


def test_a_salvage_line_is_coded_from_its_text_on_save(db):
    listed = salvage_line(regimen="flag")
    other = salvage_line(regimen="Fludarabine+AraC (local)")
    assert listed.regimen_code == "FLAG" and listed.regimen == "flag"  # the text stays as entered
    assert other.regimen_code == ""


def test_a_given_code_is_kept_and_an_unknown_one_refused(db):
    line = salvage_line(regimen="our relapse protocol", regimen_code="all-rez-bfm")
    assert line.regimen_code == "ALL-REZ-BFM"
    patient = relapsed_patient()
    bad = SalvageLine(
        patient=patient,
        regimen="X",
        regimen_code="NO-SUCH",
        agents="x",
        start_date=patient.diagnosis_date + timedelta(days=210),
        response="PR",
    )
    with pytest.raises(ValidationError) as error:
        services.save_record(user=None, record=bad, source="test")
    assert "Unknown regimen code 'NO-SUCH'" in str(error.value.message_dict["regimen_code"])


@pytest.mark.usefixtures("postgres_only")
def test_the_database_refuses_an_unknown_code_and_keeps_a_used_one(db):
    line = salvage_line()
    with pytest.raises(IntegrityError, match="Unknown regimen code"), transaction.atomic():
        SalvageLine._base_manager.filter(pk=line.pk).update(regimen_code="NO-SUCH")
    with pytest.raises(IntegrityError, match="used by salvage lines"), transaction.atomic():
        Regimen.objects.filter(code="FLAG").update(code="FLAG2")
    with pytest.raises(IntegrityError, match="used by salvage lines"), transaction.atomic():
        Regimen.objects.filter(code="FLAG").delete()
    Regimen.objects.filter(code="BLINA").update(code="BLINATUMOMAB")  # unused: may still change


def test_str_shows_the_name_when_it_differs_from_the_code(db):
    assert str(Regimen.objects.get(code="FLAG")) == "FLAG"
    assert str(Regimen.objects.get(code="MIT-VP16")) == "MIT-VP16 (MIT/VP16)"
