"""The vocabulary pages, under /vocabularies/ (namespace "vocabularies"), included by registry/config/urls.py."""

from django.urls import path

from . import views

app_name = "vocabularies"

urlpatterns = [
    path("regimens/", views.regimen_list, name="regimens"),
    path("uncoded/", views.uncoded, name="uncoded"),
]
