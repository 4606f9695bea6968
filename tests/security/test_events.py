"""Security events: what is recorded (logins, failures, lockouts and resets, passwords, exports),
and that nobody can change or delete them (the ORM refuses; PostgreSQL refuses raw SQL too)."""

import csv
import io

import pytest
from axes.models import AccessAttempt
from axes.utils import reset
from django.db import connection
from django.db.utils import DatabaseError
from django.test import RequestFactory
from django.urls import reverse

from registry.security import events
from registry.security.models import AppendOnlyError, SecurityEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind
BROWSER = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "Mozilla/5.0 (test browser)"}


def _log_in(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password}, **BROWSER)


def test_a_failed_login_is_kept_with_address_and_browser(client, coordinator):
    _log_in(client, "coord", "not-the-password")
    event = SecurityEvent.objects.get(kind=Kind.LOGIN_FAILED)
    assert (event.username, event.ip_address, event.user_agent) == ("coord", "203.0.113.9", BROWSER["HTTP_USER_AGENT"])
    assert event.user is None


def test_login_and_logout_are_recorded(client, coordinator):
    _log_in(client, "coord", PASSWORD)
    client.post(reverse("logout"), **BROWSER)
    login, logout = SecurityEvent.objects.filter(kind__in=[Kind.LOGIN, Kind.LOGOUT]).order_by("id")
    assert (login.kind, login.user, login.ip_address) == (Kind.LOGIN, coordinator, "203.0.113.9")
    assert (logout.kind, logout.user) == (Kind.LOGOUT, coordinator)


def test_a_lockout_and_its_reset_are_recorded_before_axes_deletes_the_attempts(client, coordinator, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        _log_in(client, "coord", "wrong-password")
    lockout = SecurityEvent.objects.get(kind=Kind.LOCKOUT)
    assert lockout.username == "coord" and "3 failed attempts" in lockout.detail
    assert SecurityEvent.objects.filter(kind=Kind.LOGIN_FAILED).count() == 3
    assert AccessAttempt.objects.exists()

    reset(username="coord")
    assert not AccessAttempt.objects.exists()
    cleared = SecurityEvent.objects.get(kind=Kind.LOCKOUT_RESET)
    assert "coord" in cleared.detail and "3 failed attempts" in cleared.detail
    assert SecurityEvent.objects.filter(kind=Kind.LOGIN_FAILED).count() == 3  # the failures stay


def test_a_password_change_is_recorded_on_every_path(client, coordinator):
    coordinator.set_password("another-long-registry-pw-7")
    coordinator.save()
    shell = SecurityEvent.objects.filter(kind=Kind.PASSWORD_CHANGED).latest("id")
    assert shell.user == coordinator and "coord" in shell.detail

    client.force_login(coordinator)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "another-long-registry-pw-7",
            "new_password1": "yet-another-registry-pw-8",
            "new_password2": "yet-another-registry-pw-8",
        },
        **BROWSER,
    )
    assert response.status_code == 302
    page = SecurityEvent.objects.filter(kind=Kind.PASSWORD_CHANGED).latest("id")
    assert page.pk != shell.pk and page.ip_address == "203.0.113.9"


def test_an_audit_trail_download_is_recorded(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("registry:audit-export"), **BROWSER)
    assert response.status_code == 200
    event = SecurityEvent.objects.get(kind=Kind.EXPORT)
    assert event.user == admin_user and "audit-trail.csv" in event.detail and event.ip_address == "203.0.113.9"


def test_a_registry_export_is_recorded(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("transfer:export-download", args=["dictionary", "md"]))
    assert response.status_code == 200
    event = SecurityEvent.objects.get(kind=Kind.EXPORT)
    assert event.user == admin_user and "mll_data_dictionary" in event.detail


def test_record_takes_the_request_being_served():
    request = RequestFactory().get("/somewhere/", **BROWSER)
    with events.request_context(request):
        event = events.record(Kind.EXPORT, user=None, detail="x")
    assert (event.ip_address, event.path) == ("203.0.113.9", "/somewhere/")
    assert events.record(Kind.EXPORT, user=None).ip_address is None  # outside a request


def test_events_cannot_be_changed_or_deleted_through_the_orm(coordinator):
    event = events.record(Kind.LOGIN, user=coordinator)
    event.detail = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        SecurityEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AppendOnlyError):
        SecurityEvent.objects.filter(pk=event.pk).update(detail="rewritten")
    assert SecurityEvent.objects.get(pk=event.pk).detail == ""


@pytest.mark.parametrize(
    "sql", ["DELETE FROM security_securityevent", "UPDATE security_securityevent SET detail = 'rewritten'"]
)
def test_postgresql_refuses_raw_update_and_delete(postgres_only, coordinator, sql):
    events.record(Kind.LOGIN, user=coordinator)
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute(sql)


def test_the_csv_export_neutralises_formulas_and_is_itself_recorded(admin_user):
    events.record(Kind.LOGIN_FAILED, user=None, username='=HYPERLINK("http://x")', detail="+cmd")
    request = RequestFactory().get("/security/events.csv")
    request.user = admin_user
    content = events.export_csv(request=request, events=SecurityEvent.objects.all())
    rows = list(csv.reader(io.StringIO(content.decode())))
    assert rows[0] == events.CSV_COLUMNS
    failed = next(row for row in rows if row[1] == Kind.LOGIN_FAILED)
    assert failed[3].startswith("'=") and failed[7] == "'+cmd"
    assert SecurityEvent.objects.filter(kind=Kind.EXPORT, user=admin_user, detail__contains="security events").exists()
