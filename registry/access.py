"""Who may see and change what. The one home of the role rules.

* coordinator: their own center, read and write (unless the patient is locked);
* investigator: read; all centers, or one center when their membership names it;
* data manager: read all centers, verify, lock and unlock, delete with a reason;
* admin: read all centers, manage users and centers, read the audit trail.

A user without a membership (or an inactive one) sees nothing. Superusers count as admins.
"""

from .choices import Role


def role_of(user):
    """The user's ``Role``, or None for anonymous users and users without a membership."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    membership = _membership(user)
    return membership.role if membership else None


def _membership(user):
    try:
        return user.membership
    except Exception:  # RelatedObjectDoesNotExist
        return None


def center_scope(user):
    """Center IDs ``user`` may see: ``None`` means every center, ``[]`` none."""
    role = role_of(user)
    if role is None:
        return []
    if role in (Role.COORDINATOR, Role.INVESTIGATOR):
        center_id = _membership(user).center_id if not user.is_superuser else None
        return None if center_id is None else [center_id]
    return None


def can_enter_data(user, patient=None):
    """Coordinators enter and correct data of their own center's patients, unless locked."""
    if role_of(user) != Role.COORDINATOR:
        return False
    if patient is None:
        return True
    return patient.center_id == _membership(user).center_id and not patient.locked


def can_review(user):
    """Data managers verify, lock and unlock records and may delete one with a reason."""
    return role_of(user) == Role.DATA_MANAGER


def can_audit(user):
    return role_of(user) == Role.ADMIN


def can_see_all_centers(user):
    return center_scope(user) is None
