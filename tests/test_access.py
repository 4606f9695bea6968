"""registry.access and for_user(): what each role may see and do."""

import pytest
from django.contrib.auth.models import AnonymousUser

from registry import access
from registry.choices import Role
from registry.models import FollowUp, Patient, Relapse
from tests.factories import PatientFactory, UserFactory, relapsed_course

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_centers(center, other_center):
    """Two patients at TKY01 and one at OSK02, each with a full course."""
    ours = [relapsed_course(center=center), relapsed_course(center=center)]
    theirs = [relapsed_course(center=other_center)]
    return ours, theirs


def visible(user, model=Patient):
    return set(model.objects.for_user(user).values_list("pk", flat=True))


def ids(patients):
    return {p.pk for p in patients}


def test_coordinator_sees_own_center_only(coordinator, two_centers):
    ours, theirs = two_centers
    assert visible(coordinator) == ids(ours)
    assert visible(coordinator, Relapse) == set(Relapse.objects.filter(patient__in=ours).values_list("pk", flat=True))


def test_center_scoped_investigator_sees_that_center(center_investigator, two_centers):
    ours, _ = two_centers
    assert visible(center_investigator) == ids(ours)


@pytest.mark.parametrize("persona", ["investigator", "data_manager", "admin_user"])
def test_study_wide_roles_see_every_center(request, persona, two_centers):
    ours, theirs = two_centers
    user = request.getfixturevalue(persona)
    assert visible(user) == ids(ours + theirs)
    assert len(visible(user, FollowUp)) == 3


def test_superuser_without_membership_is_an_admin(two_centers):
    root = UserFactory(username="root", role=None, is_superuser=True)
    assert access.role_of(root) == Role.ADMIN
    assert len(visible(root)) == 3


def test_outsider_and_anonymous_see_nothing(outsider, two_centers):
    assert visible(outsider) == set()
    assert visible(AnonymousUser()) == set()
    assert access.center_scope(None) == []


def test_inactive_user_sees_nothing(coordinator, investigator, two_centers):
    for user in (coordinator, investigator):
        user.is_active = False
        user.save()
        assert visible(user) == set()
        assert access.role_of(user) is None


def test_only_coordinators_of_the_center_enter_data(coordinator, other_coordinator, investigator, data_manager, center):
    patient = PatientFactory(center=center)
    assert access.can_enter_data(coordinator, patient)
    assert not access.can_enter_data(other_coordinator, patient)
    assert not access.can_enter_data(investigator, patient)
    assert not access.can_enter_data(data_manager, patient)
    patient.locked = True
    assert not access.can_enter_data(coordinator, patient)


@pytest.mark.parametrize(
    ("persona", "review", "audit", "all_centers"),
    [
        ("coordinator", False, False, False),
        ("center_investigator", False, False, False),
        ("investigator", False, False, True),
        ("data_manager", True, False, True),
        ("admin_user", False, True, True),
        ("outsider", False, False, False),
    ],
)
def test_role_matrix(request, persona, review, audit, all_centers):
    user = request.getfixturevalue(persona)
    assert (access.can_review(user), access.can_audit(user), access.can_see_all_centers(user)) == (
        review,
        audit,
        all_centers,
    )
