"""The signing page and the signatures on the patient page, per persona: investigators sign with
the password (and the code once a session), everyone else is refused; a signed casebook shows
name, UTC time and meaning, and after an edit through the pages, INVALIDATED with the reason."""

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.models import Relapse
from registry.signatures.models import Signature
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def sign_url(kind, obj):
    return reverse("signatures:sign", args=[kind, obj.pk])


def patient_page(client, patient):
    return client.get(reverse("registry:patient-detail", args=[patient.pk])).content.decode()


def test_an_investigator_signs_a_casebook_and_sees_it_and_sees_it_invalidated_after_an_edit(
    login, investigator, coordinator, patient
):
    client = login("investigator")
    page = patient_page(client, patient)
    assert "Electronic signatures" in page and "Not signed yet." in page and sign_url("casebook", patient) in page

    form = client.get(sign_url("casebook", patient)).content.decode()
    assert "Keiko Tanaka" in form and "Printed name" in form and "Date and time (UTC)" in form
    assert "Meaning" in form and "21 CFR Part 11" in form and 'name="otp_token"' not in form

    response = client.post(sign_url("casebook", patient), {"meaning": "approved", "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("registry:patient-detail", args=[patient.pk])
    signature = Signature.objects.get()
    page = patient_page(client, patient)
    assert "Keiko Tanaka" in page and f"{signature.signed_at:%Y-%m-%d %H:%M:%S} UTC" in page
    assert "approved" in page and "INVALIDATED" not in page and ">valid<" in page

    relapse = Relapse.objects.get(patient=patient)
    login("coordinator")
    response = client.post(
        reverse("registry:event-edit", args=["relapse", relapse.pk]),
        {
            "relapse_date": relapse.relapse_date.isoformat(),
            "site": "CNS",
            "reason": "site per the CSF report",
            "version": 1,
        },
    )
    assert response.status_code == 302
    page = patient_page(client, patient)
    assert "Keiko Tanaka" in page and "INVALIDATED" in page
    assert f"relapse #{relapse.pk} saved after signing: site per the CSF report" in page
    assert sign_url("casebook", patient) not in page  # coordinators do not sign
    assert Signature.history.filter(id=signature.pk, history_type="~").get().history_user == coordinator


@pytest.mark.parametrize("persona", ["coordinator", "data_manager", "admin_user", "outsider"])
def test_only_investigators_reach_the_signing_page(login, request, persona, patient, cut):
    client = login(persona)
    for kind, obj in [("casebook", patient), ("data_cut", cut), ("report", cut)]:
        assert client.get(sign_url(kind, obj)).status_code in (403, 404)
        response = client.post(sign_url(kind, obj), {"meaning": "approved", "password": PASSWORD})
        assert response.status_code in (403, 404)
    assert not Signature.objects.exists()
    if persona in ("coordinator", "data_manager"):
        assert client.get(sign_url("casebook", patient)).status_code == 403
        assert sign_url("casebook", patient) not in patient_page(client, patient)


def test_anonymous_is_sent_to_log_in(client, patient):
    response = client.get(sign_url("casebook", patient))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_a_center_investigator_gets_404_for_another_centers_casebook(login, center_investigator, other_patient):
    assert login("center_investigator").get(sign_url("casebook", other_patient)).status_code == 404


def test_an_unknown_kind_is_404(login, investigator, patient):
    assert login("investigator").get(f"/signatures/sign/protocol/{patient.pk}/").status_code == 404


def test_a_wrong_password_shows_an_error_and_writes_nothing(login, investigator, patient):
    response = login("investigator").post(sign_url("casebook", patient), {"meaning": "approved", "password": "wrong"})
    assert response.status_code == 400
    assert "The password is not correct; nothing was signed." in response.content.decode()
    assert not Signature.objects.exists()


def test_the_code_is_asked_once_a_session_when_the_user_has_an_authenticator(login, investigator, patient):
    TOTPDevice.objects.create(user=investigator, name="authenticator app", confirmed=True)
    client = login("investigator")
    assert 'name="otp_token"' in client.get(sign_url("casebook", patient)).content.decode()
    response = client.post(sign_url("casebook", patient), {"meaning": "approved", "password": PASSWORD})
    assert response.status_code == 400 and not Signature.objects.exists()
    session = client.session
    session["signatures_second_factor_user"] = investigator.pk  # as after a first signature with the code
    session.save()
    assert 'name="otp_token"' not in client.get(sign_url("casebook", patient)).content.decode()


def test_an_investigator_signs_a_data_cut(login, investigator, cut):
    client = login("investigator")
    form = client.get(sign_url("data_cut", cut)).content.decode()
    assert cut.name in form and cut.fingerprint in form
    response = client.post(sign_url("data_cut", cut), {"meaning": "approved", "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("cuts:detail", args=[cut.pk])
    assert Signature.objects.get().kind == "data_cut"


def test_a_report_without_runs_at_the_cut_cannot_be_signed_by_page(login, investigator, cut):
    client = login("investigator")
    response = client.get(sign_url("report", cut))
    assert response.status_code == 400 and "there is no report to sign" in response.content.decode()
    response = client.post(sign_url("report", cut), {"meaning": "approved", "password": PASSWORD})
    assert response.status_code == 400 and not Signature.objects.exists()
