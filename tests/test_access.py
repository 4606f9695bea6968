"""registry.access and for_user(): what each role may see and do, and how a refusal reads."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

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


# --- every role rule, one row per persona (docs/roles.md) -------------------------------------------

RULES = ["can_view_reports", "can_recompute", "can_import", "can_raise_queries", "can_answer_queries"]
RIGHTS = {
    "coordinator": {"can_import", "can_answer_queries"},
    "center_investigator": {"can_view_reports", "can_recompute"},
    "investigator": {"can_view_reports", "can_recompute"},
    "data_manager": {"can_view_reports", "can_raise_queries"},
    "admin_user": {"can_view_reports", "can_recompute"},
    "outsider": set(),
}
EXPORTS = {
    "coordinator": {"dictionary"},
    "center_investigator": {"dictionary", "analysis"},
    "investigator": {"dictionary", "analysis"},
    "data_manager": {"dictionary", "analysis"},
    "admin_user": {"dictionary", "analysis", "identified", "odm", "something-new"},  # a new kind: admins first
    "outsider": set(),
}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("persona", list(RIGHTS))
def test_rights_of_each_persona(request, persona, rule):
    assert getattr(access, rule)(request.getfixturevalue(persona)) is (rule in RIGHTS[persona])


@pytest.mark.parametrize("kind", ["dictionary", "analysis", "identified", "odm", "something-new"])
@pytest.mark.parametrize("persona", list(EXPORTS))
def test_who_exports_which_kind(request, persona, kind):
    assert access.can_export(request.getfixturevalue(persona), kind) is (kind in EXPORTS[persona])


def test_anonymous_users_have_no_right():
    anonymous = AnonymousUser()
    assert not any(getattr(access, rule)(anonymous) for rule in RULES)
    assert not any(access.can_export(anonymous, kind) for kind in EXPORTS["admin_user"])


def test_imports_reach_the_coordinators_own_center_only(coordinator, center, investigator, data_manager):
    assert access.import_center_ids(coordinator) == [center.pk]
    assert access.import_center_ids(investigator) == []
    assert access.import_center_ids(data_manager) == []
    assert access.import_center_ids(None) is None  # the system: management commands, benchmarks


def test_queries_are_answered_by_the_coordinators_of_the_patients_center(coordinator, other_coordinator, center):
    patient = PatientFactory(center=center)
    assert access.can_answer_queries(coordinator, patient)
    assert not access.can_answer_queries(other_coordinator, patient)


@pytest.mark.parametrize(
    ("require", "persona", "message"),
    [
        (access.require_role, "outsider", access.NO_ROLE),
        (access.require_reports, "coordinator", access.OUTCOMES_REFUSED),
        (access.require_reports, "outsider", access.NO_ROLE),
        (access.require_recompute, "data_manager", access.RECOMPUTE_REFUSED),
        (access.require_import, "investigator", access.IMPORT_REFUSED),
        (access.require_review, "coordinator", access.REVIEW_REFUSED),
        (access.require_audit, "data_manager", access.AUDIT_REFUSED),
    ],
)
def test_refusals_are_named_and_carry_their_message(request, require, persona, message):
    with pytest.raises(access.NotYourRole) as refused:
        require(request.getfixturevalue(persona))
    assert isinstance(refused.value, PermissionDenied)
    assert str(refused.value) == str(message) and str(message)


@pytest.mark.parametrize("require", [access.require_role, access.require_reports, access.require_recompute])
def test_requirements_pass_silently_for_those_who_may(admin_user, require):
    require(admin_user)
    access.require_export(admin_user, "odm")


def test_outside_your_centers_is_a_404_with_a_message():
    refusal = access.OutsideYourCenters()
    assert isinstance(refusal, Http404) and str(refusal) == str(access.NOT_IN_SCOPE)
