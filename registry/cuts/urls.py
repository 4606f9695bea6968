"""The data-cut pages, under /cuts/ (namespace "cuts"), included by registry/config/urls.py."""

from django.urls import path

from . import views

app_name = "cuts"

urlpatterns = [
    path("", views.cut_list, name="list"),
    path("<int:pk>/", views.cut_detail, name="detail"),
    path("<int:pk>/release/", views.cut_release, name="release"),
]
