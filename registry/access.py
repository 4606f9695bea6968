"""Who may see and do what: every role rule of the registry, in one module.

* coordinator: their own center, read and write (unless the patient is locked); imports their
  center's data; answers the data queries on their center's patients; no outcome results;
* investigator: read; all centers, or one center when their membership names it; outcome
  results (reports, stored analysis runs, the de-identified analysis export) for the centers
  they see, and a center-scoped investigator only the runs filtered to their center; recomputes;
* data manager: read all centers, verify, lock and unlock, delete with a reason; raises,
  closes and reopens data queries, verifies fields against source (with admins: the query
  dashboard, the data-quality report, SDV progress); outcome results of the whole study (no recompute);
* admin: read all centers, manage users and centers, read the audit trail; outcome results,
  recompute, and the identified and ODM exports.

Data managers and admins code the salvage regimens entered as free text (``registry.vocabularies``).
Data cuts are created and released by data managers; investigators sign (a casebook of a patient
they see, a data cut, a report at a cut); admins and data managers (monitors) read the audit review.

A user without a membership (or an inactive one) sees nothing. Superusers count as admins. Admins, data managers
and staff sign in with a second factor (``must_use_second_factor``, enforced by ``registry.security``).

The row-level reads follow these rules through ``for_user()`` (clinical records in
``registry.models``, analysis runs in ``analysis.models``). A refusal is one of the named
exceptions below, carrying its message: ``NotYourRole`` (403) when the role may not do it,
``OutsideYourCenters`` (404) for a record the user may not know exists.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from .choices import Role

OUTCOME_READERS = frozenset({Role.INVESTIGATOR, Role.DATA_MANAGER, Role.ADMIN})
RECOMPUTERS = frozenset({Role.INVESTIGATOR, Role.ADMIN})
SECOND_FACTOR_ROLES = frozenset({Role.DATA_MANAGER, Role.ADMIN})

NO_ROLE = _(
    "You have no role in the registry yet, so it shows you nothing. Ask a registry administrator to give you "
    "one (study coordinator, investigator, data manager or admin)."
)
OUTCOMES_REFUSED = _("Outcome results are for investigators, data managers and admins.")
RECOMPUTE_REFUSED = _("Only investigators and admins may recompute a report.")
EXPORT_REFUSED = _("Your role may not download this export.")
IMPORT_REFUSED = _("Only a study coordinator may import data (for their own center).")
ENTRY_REFUSED = _("Only a study coordinator may enter or change clinical data.")
OTHER_CENTER_REFUSED = _("Only the study coordinator of this patient's center may change its records.")
# A locked patient's refusal names who locked it and when, from the audit trail (``selectors.locked_refusal``).
LOCKED_BY = _("%(study_id)s was locked by %(user)s on %(when)s; ask them to unlock it.")
LOCKED_REFUSED = _("%(study_id)s is locked; ask a data manager to unlock it.")
REVIEW_REFUSED = _("Only a data manager may verify or lock records.")
DELETE_REFUSED = _("Only a data manager may delete a clinical record.")
AUDIT_REFUSED = _("Only administrators may read the audit trail.")
QUERY_RAISE_REFUSED = _("Only a data manager may raise or close a data query.")
QUERY_ANSWER_REFUSED = _("Only the study coordinator of this patient's center may answer its data queries.")
QUERY_OVERSIGHT_REFUSED = _("The query dashboard and the data-quality report are for data managers and admins.")
SDV_REFUSED = _("Only a data manager (monitor) may verify data against source.")
CUT_REFUSED = _("Only a data manager may create or release a data cut.")
SIGN_REFUSED = _("Only an investigator may sign (casebooks of the centers they see, data cuts, reports at a cut).")
AUDIT_REVIEW_REFUSED = _("The audit review is for administrators and data managers (monitors).")
CODING_REFUSED = _("Only a data manager or an administrator may code salvage regimens.")
NOT_IN_SCOPE = _("No such record among the centers you may see.")
NO_CENTER = _("Your membership names no center; ask an administrator to set one.")


class NotYourRole(PermissionDenied):
    """403: the user's role may not do this. ``message`` says who may."""

    def __init__(self, message=NO_ROLE):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return str(self.message)


class OutsideYourCenters(Http404):
    """404: the record is outside the user's centers (or does not exist; the two look alike)."""

    def __init__(self, message=NOT_IN_SCOPE):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return str(self.message)


# --- who the user is ----------------------------------------------------------------------------


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


def can_see_all_centers(user):
    return center_scope(user) is None


def require_role(user):
    """Raise ``NotYourRole`` unless the user has a role in the registry."""
    if role_of(user) is None:
        raise NotYourRole(NO_ROLE)


# --- clinical data -------------------------------------------------------------------------------


def can_enter_data(user, patient=None):
    """Coordinators enter and correct data of their own center's patients, unless locked."""
    if role_of(user) != Role.COORDINATOR:
        return False
    if patient is None:
        return True
    return patient.center_id == _membership(user).center_id and not patient.locked


def require_entry(user, patient=None):
    """Raise ``NotYourRole`` unless ``user`` may enter or change ``patient``'s records (``can_enter_data``).

    The message says why and what to do: no role, not a coordinator, another center's patient, or a
    locked patient, naming who locked it and when. Pages, API and import all refuse through here,
    so a refusal reads the same on every path.
    """
    if can_enter_data(user, patient):
        return
    role = role_of(user)
    if role is None:
        raise NotYourRole(NO_ROLE)
    if role != Role.COORDINATOR:
        raise NotYourRole(ENTRY_REFUSED)
    if patient.center_id != _membership(user).center_id:
        raise NotYourRole(OTHER_CENTER_REFUSED)
    from .selectors import locked_refusal  # who locked it is a read of the audit trail

    raise NotYourRole(locked_refusal(patient))


def can_review(user):
    """Data managers verify, lock and unlock records and may delete one with a reason."""
    return role_of(user) == Role.DATA_MANAGER


def can_audit(user):
    """Admins read the audit trail (and the security events)."""
    return role_of(user) == Role.ADMIN


def can_see_operations(user):
    """Admins are warned on the dashboard of stale analyses and a missing worker."""
    return role_of(user) == Role.ADMIN


def must_use_second_factor(user):
    """Admins, data managers and anyone who may open the Django admin sign in with a second factor."""
    return role_of(user) in SECOND_FACTOR_ROLES or bool(user.is_authenticated and user.is_staff)


def can_import(user):
    """Coordinators import files of their own center's data (``import_center_ids``)."""
    return role_of(user) == Role.COORDINATOR


def import_center_ids(user):
    """Center IDs whose patients an import by ``user`` may create or change.

    ``None`` (every center) for ``user=None``, the system (management commands, benchmarks);
    the coordinator's own center; ``[]`` for everyone else.
    """
    if user is None:
        return None
    if not can_import(user):
        return []
    return [_membership(user).center_id]


# --- data queries ------------------------------------------------------------------------------


def can_raise_queries(user):
    """Data managers raise data queries on any patient, and close them once answered."""
    return role_of(user) == Role.DATA_MANAGER


def can_answer_queries(user, patient=None):
    """The coordinators of the patient's center answer its data queries."""
    if role_of(user) != Role.COORDINATOR:
        return False
    return patient is None or patient.center_id == _membership(user).center_id


def can_oversee_queries(user):
    """The query dashboard (all centers), its CSV, the data-quality report and SDV progress."""
    return role_of(user) in (Role.DATA_MANAGER, Role.ADMIN)


def can_verify_source(user):
    """Data managers (monitors) mark fields verified against source documents."""
    return role_of(user) == Role.DATA_MANAGER


# --- outcome results and exports -----------------------------------------------------------------


def can_view_reports(user):
    """Outcome results: report pages and stored analysis runs (pages, API, admin).

    Investigators, data managers and admins; which runs they see is
    ``AnalysisRun.objects.for_user`` (a center-scoped investigator: their center's only).
    """
    return role_of(user) in OUTCOME_READERS


def can_recompute(user):
    """Investigators and admins queue new analysis runs (for the centers they see)."""
    return role_of(user) in RECOMPUTERS


def require_reports(user):
    if not can_view_reports(user):
        raise NotYourRole(OUTCOMES_REFUSED if role_of(user) else NO_ROLE)


def require_recompute(user):
    require_reports(user)
    if not can_recompute(user):
        raise NotYourRole(RECOMPUTE_REFUSED)


def can_export(user, kind):
    """Who may download which export.

    ``dictionary``: every role; ``analysis`` (de-identified): the readers of outcome results;
    ``identified`` and ``odm`` (which carries the dates), and any other kind: admins only.
    """
    role = role_of(user)
    if role is None:
        return False
    if kind == "dictionary":
        return True
    if kind == "analysis":
        return role in OUTCOME_READERS
    return role == Role.ADMIN


def require_export(user, kind):
    if not can_export(user, kind):
        raise NotYourRole(EXPORT_REFUSED)


def require_import(user):
    if not can_import(user):
        raise NotYourRole(IMPORT_REFUSED)


def require_review(user):
    if not can_review(user):
        raise NotYourRole(REVIEW_REFUSED)


def require_audit(user):
    if not can_audit(user):
        raise NotYourRole(AUDIT_REFUSED)


# --- data cuts, signatures, audit review -----------------------------------------------------------


def can_manage_cuts(user):
    """Data managers create a data cut (freezing its scope) and release it with a reason."""
    return role_of(user) == Role.DATA_MANAGER


def require_manage_cuts(user):
    if not can_manage_cuts(user):
        raise NotYourRole(CUT_REFUSED)


def can_sign(user, patient=None):
    """Investigators sign: a casebook of a patient of the centers they see, a data cut, a report at a cut."""
    if role_of(user) != Role.INVESTIGATOR:
        return False
    scope = center_scope(user)
    return patient is None or scope is None or patient.center_id in scope


def require_sign(user, patient=None):
    if not can_sign(user, patient):
        raise NotYourRole(SIGN_REFUSED)


def can_review_audit(user):
    """The audit review (mass edits, edits after verification or around a cut, cut releases)."""
    return role_of(user) in (Role.ADMIN, Role.DATA_MANAGER)


def require_review_audit(user):
    if not can_review_audit(user):
        raise NotYourRole(AUDIT_REVIEW_REFUSED)


# --- controlled vocabularies ---------------------------------------------------------------------


def can_code_regimens(user):
    """Data managers and admins map the salvage regimens entered as free text to the registry's codes."""
    return role_of(user) in (Role.DATA_MANAGER, Role.ADMIN)


def require_code_regimens(user):
    if not can_code_regimens(user):
        raise NotYourRole(CODING_REFUSED if role_of(user) else NO_ROLE)
