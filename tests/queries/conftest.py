"""Personas come from tests/conftest.py; here a relapsed patient at the coordinator's center."""

import pytest

from registry.models import Relapse
from tests.factories import PatientFactory, relapsed_course


@pytest.fixture
def patient(center):
    return relapsed_course(PatientFactory(center=center, study_id="MLL96-0001"))


@pytest.fixture
def relapse(patient):
    return Relapse.objects.get(patient=patient)


@pytest.fixture
def other_patient(other_center):
    return relapsed_course(PatientFactory(center=other_center, study_id="MLL98-0002"))
