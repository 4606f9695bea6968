"""The signing page, under /signatures/ (namespace "signatures"), included by registry/config/urls.py."""

from django.urls import path

from . import views

app_name = "signatures"

urlpatterns = [
    # kind: casebook (pk: the patient), data_cut or report (pk: the data cut)
    path("sign/<slug:kind>/<int:pk>/", views.sign, name="sign"),
]
