"""Who may call what. The rules themselves live in ``registry.access`` (and the services check again)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .. import access
from ..choices import Role


class HasRegistryRole(BasePermission):
    """The default for every view: a logged-in, active user with a registry role (never AllowAny)."""

    message = "You need a role in the registry (coordinator, investigator, data manager or admin)."

    def has_permission(self, request, view):
        return access.role_of(request.user) is not None


class ClinicalRecordPermission(HasRegistryRole):
    """Reads for every role (scoped by ``for_user``); create and edit for coordinators, delete for data managers."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if request.method in SAFE_METHODS:
            return True
        if request.method == "DELETE":
            self.message = "Only a data manager may delete a clinical record."
            return access.can_review(request.user)
        self.message = "Only a study coordinator may enter or change clinical data."
        return access.can_enter_data(request.user)

    def has_object_permission(self, request, view, obj):
        if request.method in SAFE_METHODS or request.method == "DELETE":
            return True
        patient = obj if not hasattr(obj, "patient_id") else obj.patient
        self.message = (
            "This patient's records are locked by the data manager."
            if patient.locked
            else "Only the study coordinator of this patient's center may change its records."
        )
        return access.can_enter_data(request.user, patient)


class CanReview(HasRegistryRole):
    message = "Only a data manager may verify or lock records."

    def has_permission(self, request, view):
        return access.can_review(request.user)


class CanReadAnalyses(HasRegistryRole):
    """Stored analysis results: investigators, data managers and admins (not coordinators)."""

    message = "Analysis results are for investigators, data managers and admins."

    def has_permission(self, request, view):
        return access.role_of(request.user) in (Role.INVESTIGATOR, Role.DATA_MANAGER, Role.ADMIN)


class CanImport(HasRegistryRole):
    """Anyone may list their own import jobs (none for most roles); only coordinators upload and commit."""

    message = "Only a study coordinator may import data (for their own center)."

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        return request.method in SAFE_METHODS or access.can_enter_data(request.user)
