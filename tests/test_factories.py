import pytest

from tests.factories import relapsed_course


@pytest.mark.django_db
def test_relapsed_course_is_valid(center):
    patient = relapsed_course(center=center)
    assert patient.relapses.count() == 1
    assert patient.history.count() == 1


def test_personas(coordinator, data_manager, outsider, center):
    assert coordinator.membership.center == center
    assert data_manager.membership.role == "DATA_MANAGER"
    assert not hasattr(outsider, "membership") or outsider.membership is None
    assert coordinator.check_password("correct-horse-registry-42")
