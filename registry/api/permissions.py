"""Who may call what. The rules and their messages live in ``registry.access`` (and the services check again)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .. import access


class HasRegistryRole(BasePermission):
    """The default for every view: a logged-in, active user with a registry role (never AllowAny)."""

    message = access.NO_ROLE

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
            self.message = access.DELETE_REFUSED
            return access.can_review(request.user)
        self.message = access.ENTRY_REFUSED
        return access.can_enter_data(request.user)

    def has_object_permission(self, request, view, obj):
        if request.method in SAFE_METHODS or request.method == "DELETE":
            return True
        patient = obj if not hasattr(obj, "patient_id") else obj.patient
        try:
            access.require_entry(request.user, patient)  # locked: who locked it and when
        except access.NotYourRole as refusal:
            self.message = refusal.message
            return False
        return True


class CanReview(HasRegistryRole):
    message = access.REVIEW_REFUSED

    def has_permission(self, request, view):
        return access.can_review(request.user)


class CanReadAnalyses(HasRegistryRole):
    """Stored analysis results: the readers of outcome results; which runs, ``AnalysisRun.objects.for_user``."""

    message = access.OUTCOMES_REFUSED

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            self.message = access.NO_ROLE
            return False
        self.message = access.OUTCOMES_REFUSED
        return access.can_view_reports(request.user)


class CanImport(HasRegistryRole):
    """Anyone may list their own import jobs (none for most roles); only coordinators upload and commit."""

    message = access.IMPORT_REFUSED

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            self.message = access.NO_ROLE
            return False
        self.message = access.IMPORT_REFUSED
        return request.method in SAFE_METHODS or access.can_import(request.user)
