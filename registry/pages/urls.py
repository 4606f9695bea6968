from django.urls import path

from . import assets, audit_review, views
from .imports import export_download, export_index, import_commit, import_job, import_start, import_status

app_name = "registry"

# Imports and exports: their own namespace ("transfer:import", ...), included by registry/config/urls.py.
transfer_patterns = [
    path("imports/", import_start, name="import"),
    path("imports/<int:pk>/", import_job, name="import-job"),
    path("imports/<int:pk>/status.json", import_status, name="import-status"),
    path("imports/<int:pk>/commit/", import_commit, name="import-commit"),
    path("exports/", export_index, name="export"),
    path("exports/<slug:kind>.<slug:fmt>", export_download, name="export-download"),
]

urlpatterns = [
    path("favicon.ico", assets.favicon, name="favicon"),
    path("", views.patient_list, name="patient-list"),
    path("patients/new/", views.patient_create, name="patient-create"),
    path("patients/<int:pk>/", views.patient_detail, name="patient-detail"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient-edit"),
    path("patients/<int:pk>/review/", views.patient_review, name="patient-review"),
    # kind: first-line, relapse, salvage, transplant, follow-up (see forms.EVENT_KINDS)
    path("patients/<int:pk>/<slug:kind>/new/", views.event_create, name="event-create"),
    path("<slug:kind>/<int:pk>/edit/", views.event_edit, name="event-edit"),
    path("<slug:kind>/<int:pk>/delete/", views.event_delete, name="event-delete"),
    path("audit/", views.audit_trail, name="audit-trail"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
    path("audit/review/", audit_review.audit_review, name="audit-review"),
    path("audit/review.csv", audit_review.audit_review_csv, name="audit-review-export"),
]
