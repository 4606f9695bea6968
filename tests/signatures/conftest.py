"""Personas come from tests/conftest.py; here a signed-off course at the coordinator's center,
another center's patient, a data cut, and ``sign(...)`` with the right password by default."""

import pytest

from registry.cuts import services as cuts
from registry.signatures import services
from tests.factories import PASSWORD, PatientFactory, relapsed_course


@pytest.fixture
def patient(center):
    return relapsed_course(PatientFactory(center=center, study_id="MLL96-0001"))


@pytest.fixture
def other_patient(other_center):
    return relapsed_course(PatientFactory(center=other_center, study_id="MLL96-0002"))


@pytest.fixture
def investigator(investigator):
    """The study-wide investigator, with a printed name."""
    investigator.first_name, investigator.last_name = "Keiko", "Tanaka"
    investigator.save()
    return investigator


@pytest.fixture
def cut(data_manager, patient):
    return cuts.create_cut(user=data_manager, name="MLL96 final analysis 2026-12-01", trial="MLL96", source="test")


def sign(user, obj, kind="casebook", meaning="approved", password=PASSWORD, **kwargs):
    kwargs.setdefault("source", "test")
    return services.sign(user=user, kind=kind, obj=obj, meaning=meaning, password=password, **kwargs)
