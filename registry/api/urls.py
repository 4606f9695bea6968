"""The registry's part of ``/api/v1/`` (see docs/api.md).

``routes`` are registered on the API's one router, together with the analysis API's
(``analysis.api.urls``), in registry/config/urls.py, which also serves the schema and Swagger UI.
"""

from django.urls import path

from . import views

# (prefix, viewset, basename): URL names "api:patient-list", "api:patient-detail" and so on.
routes = [
    ("patients", views.PatientViewSet, "patient"),
    ("first-line-responses", views.FirstLineResponseViewSet, "firstlineresponse"),
    ("relapses", views.RelapseViewSet, "relapse"),
    ("salvage-lines", views.SalvageLineViewSet, "salvageline"),
    ("transplants", views.TransplantViewSet, "transplant"),
    ("follow-ups", views.FollowUpViewSet, "followup"),
    ("centers", views.CenterViewSet, "center"),
    ("trials", views.TrialViewSet, "trial"),
    ("imports", views.ImportJobViewSet, "import"),
]

urlpatterns = [
    path("exports/", views.ExportIndexView.as_view(), name="export-index"),
    path("exports/<slug:kind>/<slug:fmt>/", views.ExportDownloadView.as_view(), name="export-download"),
    path("data-dictionary/", views.DataDictionaryView.as_view(), name="data-dictionary"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
]
