from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
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
]
