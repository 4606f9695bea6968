"""``/api/v1/``: the REST API (see docs/api.md). The schema and Swagger UI are in registry/config/urls.py."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

app_name = "api"

router = DefaultRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("first-line-responses", views.FirstLineResponseViewSet, basename="firstlineresponse")
router.register("relapses", views.RelapseViewSet, basename="relapse")
router.register("salvage-lines", views.SalvageLineViewSet, basename="salvageline")
router.register("transplants", views.TransplantViewSet, basename="transplant")
router.register("follow-ups", views.FollowUpViewSet, basename="followup")
router.register("centers", views.CenterViewSet, basename="center")
router.register("trials", views.TrialViewSet, basename="trial")
router.register("analyses", views.AnalysisRunViewSet, basename="analysis")
router.register("imports", views.ImportJobViewSet, basename="import")

urlpatterns = [
    path("exports/", views.ExportIndexView.as_view(), name="export-index"),
    path("exports/<slug:kind>/<slug:fmt>/", views.ExportDownloadView.as_view(), name="export-download"),
    path("data-dictionary/", views.DataDictionaryView.as_view(), name="data-dictionary"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
    *router.urls,
]
