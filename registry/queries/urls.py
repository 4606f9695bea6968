"""The data-management pages, under /queries/ (namespace "queries"), included by registry/config/urls.py."""

from django.urls import path

from . import views

app_name = "queries"

urlpatterns = [
    path("", views.query_list, name="list"),
    path("<int:pk>/", views.query_detail, name="detail"),
    path("<int:pk>/<slug:action>/", views.query_action, name="action"),
    path("new/<slug:record_type>/<int:record_id>/", views.query_new, name="new"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard.csv", views.dashboard_csv, name="dashboard-csv"),
    path("quality/", views.quality_report, name="quality"),
    path("verification/", views.sdv, name="sdv"),
    path("verify/<slug:record_type>/<int:record_id>/", views.verify, name="verify"),
]
