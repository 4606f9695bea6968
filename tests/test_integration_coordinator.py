"""A coordinator's session through the real pages, as they enter a patient from paper forms."""

import re

import pytest
from django.urls import reverse

from registry.models import Patient, Trial
from tests.conftest import PASSWORD


def field_block(html, name):
    """The rendered block of one form field: from its wrapper to the next field's wrapper."""
    start = r'<div class="field[^"]*">(?:(?!<div class="field).)*?'
    pattern = start + rf'name="{name}".*?(?=<div class="field|<div class="actions)'
    match = re.search(pattern, html, re.S)
    assert match, f"no field {name} on the page"
    return match.group(0)


def hidden_value(html, name):
    return re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html).group(1)


def test_coordinator_session(client, coordinator, center):
    # Log in through the login form.
    login_page = client.get(reverse("login"))
    assert 'name="username"' in login_page.content.decode()
    response = client.post(reverse("login"), {"username": "coord", "password": PASSWORD})
    assert response.status_code == 302
    listing = client.get(response.url).content.decode()
    assert "Study coordinator, TKY01" in listing
    assert reverse("registry:patient-create") in listing

    # Register a patient: the page lands on the new patient.
    registration = {
        "study_id": "MLL98-0031",
        "trial": Trial.objects.get(code="MLL98").pk,
        "registration_date": "1999-06-03",
        "sex": "F",
        "date_of_birth": "1999-03-20",
        "diagnosis_date": "1999-06-01",
        "wbc": "412",
        "cns_status": "CNS1",
        "immunophenotype": "PRO_B",
        "prednisone_response": "POOR",
        "mll_partner": "AF4",
        "mll_detection_method": "RT_PCR",
    }
    response = client.post(reverse("registry:patient-create"), registration, follow=True)
    patient = Patient.objects.get(study_id="MLL98-0031")
    assert response.redirect_chain[-1][0] == reverse("registry:patient-detail", args=[patient.pk])
    assert "73 days" in response.content.decode()

    # First complete remission.
    response = client.post(
        reverse("registry:event-create", args=[patient.pk, "first-line"]),
        {"outcome": "CR", "assessment_date": "1999-07-06"},
        follow=True,
    )
    assert "Complete remission (CR1)" in response.content.decode()

    # A relapse dated before the CR is refused, with the message beside the relapse date.
    relapse_url = reverse("registry:event-create", args=[patient.pk, "relapse"])
    response = client.post(relapse_url, {"relapse_date": "1999-06-20", "site": "BM"})
    assert response.status_code == 200
    html = response.content.decode()
    block = field_block(html, "relapse_date")
    assert "has-error" in block
    assert "A relapse must follow a complete remission" in block
    assert "A relapse must follow a complete remission" not in field_block(html, "site")
    assert 'value="1999-06-20"' in block  # what they typed is kept
    assert not patient.relapses.exists()

    # The valid relapse.
    response = client.post(relapse_url, {"relapse_date": "1999-12-14", "site": "BM"}, follow=True)
    assert "Relapse 1" in response.content.decode()
    relapse = patient.relapses.get()

    # Correct it with a reason.
    edit_url = reverse("registry:event-edit", args=["relapse", relapse.pk])
    edit_page = client.get(edit_url).content.decode()
    version = hidden_value(edit_page, "version")
    response = client.post(
        edit_url,
        {"relapse_date": "1999-12-14", "site": "COMBINED", "version": version, "reason": "Testis involved per CRF p.4"},
        follow=True,
    )
    html = response.content.decode()
    assert "Saved." in html

    # The patient page's history shows the change, old and new, with its reason.
    history = html.split('id="history"')[1]
    assert "Testis involved per CRF p.4" in history
    assert "Isolated bone marrow" in history and "Combined (marrow + extramedullary)" in history
    assert "coord" in history


@pytest.mark.django_db
def test_five_failed_logins_lock_the_account(client, coordinator):
    for _ in range(4):
        response = client.post(reverse("login"), {"username": "coord", "password": "wrong password"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    response = client.post(reverse("login"), {"username": "coord", "password": "wrong password"})
    assert response.status_code == 429
    assert "Account locked" in response.content.decode()
    # Even the right password is refused now.
    response = client.post(reverse("login"), {"username": "coord", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
