from django.urls import path

from . import dashboard, views

app_name = "analysis"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("outcomes/", views.report, name="report"),
    path("outcomes/fragment/", views.report_fragment, name="report-fragment"),
    path("outcomes/recompute/", views.recompute, name="recompute"),
    path("outcomes/status/", views.status, name="status"),
    path("outcomes/report.pdf", views.report_pdf, name="report-pdf"),
    path("outcomes/reproduce.zip", views.reproducibility_package, name="reproducibility"),
    path("outcomes/tables/<slug:name>.<str:fmt>", views.table_download, name="table"),
    path("runs/<int:pk>/figures/<slug:name>.<str:fmt>", views.figure_download, name="figure"),
]
