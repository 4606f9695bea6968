"""The analysis part of ``/api/v1/``: composed with the registry's in registry/config/urls.py (one router)."""

from . import views

# (prefix, viewset, basename): registered on the API's one router, URL names "api:analysis-list" and so on.
routes = [("analyses", views.AnalysisRunViewSet, "analysis")]
urlpatterns = []
