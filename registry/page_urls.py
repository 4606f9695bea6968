from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
    path("", views.patient_list, name="patient-list"),
]
