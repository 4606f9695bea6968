from django.urls import path

from . import views

app_name = "security"

urlpatterns = [
    path("account/two-factor/", views.overview, name="two-factor"),
    path("account/two-factor/enrol/", views.enrol, name="enrol"),
    path("account/two-factor/verify/", views.verify, name="verify"),
    path("account/two-factor/recovery-codes/", views.recovery_codes, name="recovery-codes"),
    path("account/two-factor/remove/", views.remove, name="remove"),
    path("security/events.csv", views.events_csv, name="events-csv"),
]
