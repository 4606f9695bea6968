"""The two-factor gate on every page, the admin and the API session; the CSP header."""

import re

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db

CSP = "Content-Security-Policy"


@pytest.mark.parametrize("path", ["/audit/", "/audit/export.csv", "/admin/", "/admin/security/securityevent/"])
def test_an_admin_without_a_second_factor_reaches_neither_the_audit_pages_nor_the_admin(
    client, second_factor_on, superuser, path
):
    client.force_login(superuser)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("security:enrol") + "?next=")


def test_an_enrolled_admin_is_sent_to_verify_until_verified(client, second_factor_on, superuser, authenticator):
    authenticator(superuser)
    client.force_login(superuser)
    response = client.get("/audit/")
    assert response.status_code == 302 and response["Location"] == reverse("security:verify") + "?next=%2Faudit%2F"
    assert client.get(reverse("security:verify")).status_code == 200  # the two-factor pages stay open


@pytest.mark.parametrize("path", ["/audit/", "/admin/", "/admin/security/securityevent/"])
def test_with_a_verified_second_factor_they_do(second_factor_on, superuser, verified_login, path):
    assert verified_login(superuser).get(path).status_code == 200


def test_a_data_manager_is_asked_too_and_a_coordinator_is_not(client, second_factor_on, data_manager, coordinator):
    client.force_login(data_manager)
    assert client.get(reverse("registry:patient-list")).status_code == 302
    client.force_login(coordinator)
    assert client.get(reverse("registry:patient-list")).status_code == 200


def test_the_api_refuses_an_unverified_session_but_not_a_token(client, second_factor_on, data_manager):
    client.force_login(data_manager)
    response = client.get("/api/v1/patients/")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "second factor" in response.json()["detail"]

    client.logout()
    token = Token.objects.create(user=data_manager)
    assert client.get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


def test_nothing_is_asked_when_enforcement_is_off(client, superuser):
    client.force_login(superuser)
    assert client.get("/audit/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_every_page_has_a_csp_without_inline_scripts(client, superuser, coordinator):
    client.force_login(superuser)
    for path in ["/", "/audit/", "/exports/", "/reports/", "/admin/", reverse("security:enrol")]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self';" in response[CSP]  # nothing else: no inline script, no eval
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script on {path}"
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline event handler on {path}"
    assert CSP in client.get(reverse("login")).headers


def test_the_swagger_ui_page_loads_its_start_up_script_as_a_file(client, investigator):
    client.force_login(investigator)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert "script-src 'self'" in page[CSP] and "style-src 'self' 'unsafe-inline'" in page[CSP]
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    script_url = re.search(r'<script src="([^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&")
    script = client.get(script_url)
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_no_template_has_an_inline_script_or_event_handler():
    from django.conf import settings

    templates = [path for folder in settings.TEMPLATES[0]["DIRS"] for path in folder.rglob("*.html")]
    assert len(templates) > 20
    for path in templates:
        html = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script in {path}"
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", html), f"inline event handler in {path}"
