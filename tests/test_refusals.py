"""Refusals that explain: why and what to do, the same by URL, API and import; menus by role; no role, no pages."""

from datetime import UTC

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from registry import access, selectors, services
from registry.models import Relapse
from registry.transfer import imports
from tests.factories import PatientFactory, UserFactory, relapsed_course


@pytest.fixture
def patient(center):
    return relapsed_course(PatientFactory(center=center, study_id="MLL98-0090"))


def lock(patient, user, *, lock=True, verify=None):
    return services.review_patient(
        user=user, patient=patient, source="test", lock=lock, verify=verify, reason="Monitoring visit done"
    )


@pytest.fixture
def locked(patient, data_manager):
    return lock(patient, data_manager)


def locked_message(patient):
    """What every path must say: from the history row that locked the patient."""
    row = patient.history.filter(locked=True).order_by("history_date").first()
    when = row.history_date.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return f"MLL98-0090 was locked by datamanager on {when} UTC; ask them to unlock it."


def templates_of(response):
    return [t.name for t in response.templates]


def api_client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- A locked patient: who locked it and when, on every path ----------------------------------------


def test_the_message_names_who_locked_it_and_when(locked):
    assert selectors.locked_refusal(locked) == locked_message(locked)


def test_the_message_names_the_last_lock_not_a_later_change(locked, data_manager):
    """Verifying a locked patient writes a history row too; the lock is still the first data manager's."""
    lock(locked, UserFactory(username="monitor2", role="DATA_MANAGER"), lock=None, verify=True)
    assert "locked by datamanager" in selectors.locked_refusal(locked)
    lock(locked, data_manager, lock=False)
    relock = lock(locked, UserFactory(username="monitor3", role="DATA_MANAGER"))
    assert selectors.locked_refusal(relock).startswith("MLL98-0090 was locked by monitor3 on ")


@pytest.mark.parametrize("page", ["registry:patient-edit", "registry:event-create", "registry:event-edit"])
def test_edit_by_url_is_a_page_in_the_layout_naming_the_locker(client, coordinator, locked, page):
    client.force_login(coordinator)
    args = {
        "registry:patient-edit": [locked.pk],
        "registry:event-create": [locked.pk, "relapse"],
        "registry:event-edit": ["relapse", Relapse.objects.get(patient=locked).pk],
    }[page]
    response = client.get(reverse(page, args=args))
    assert response.status_code == 403
    assert {"403.html", "base.html"} <= set(templates_of(response))
    text = response.content.decode()
    assert locked_message(locked) in text and 'class="site-header"' in text


def test_edit_by_api_is_a_problem_document_naming_the_locker(coordinator, locked):
    client = api_client(coordinator)
    response = client.patch(
        f"/api/v1/patients/{locked.pk}/",
        {"wbc": "99.0", "reason": "typo"},
        format="json",
        HTTP_IF_MATCH=f'W/"{locked.version}"',
    )
    assert response.status_code == 403
    assert response.json()["detail"] == locked_message(locked)
    new_event = {"patient": locked.pk, "relapse_date": "1997-08-01", "site": "CNS"}
    response = client.post("/api/v1/relapses/", new_event, format="json")
    assert response.status_code == 403 and response.json()["detail"] == locked_message(locked)
    assert Relapse.objects.filter(patient=locked).count() == 1


def test_change_by_import_is_a_problem_naming_the_locker(coordinator, locked):
    content = b"study_id,relapse_date,site\nMLL98-0090,1997-08-01,CNS\n"
    report = imports.check_and_write(user=coordinator, file_name="relapses.csv", content=content, commit=True)
    assert not report["committed"]
    assert [(p["sheet"], p["row"], p["kind"], p["message"]) for p in report["problems"]] == [
        ("relapses", 2, "permission", locked_message(locked))
    ]


def test_unlocked_again_the_coordinator_may_edit(client, coordinator, locked, data_manager):
    lock(locked, data_manager, lock=False)
    client.force_login(coordinator)
    assert client.get(reverse("registry:patient-edit", args=[locked.pk])).status_code == 200


# --- Not your role, not your centers ------------------------------------------------------------------


def test_not_your_role_is_a_page_saying_who_may(client, investigator, patient):
    client.force_login(investigator)
    response = client.get(reverse("registry:patient-edit", args=[patient.pk]))
    assert response.status_code == 403 and "403.html" in templates_of(response)
    assert str(access.ENTRY_REFUSED) in response.content.decode()


def test_not_your_role_on_the_api_is_json(investigator, patient):
    response = api_client(investigator).post("/api/v1/relapses/", {"patient": patient.pk}, format="json")
    assert response.status_code == 403 and response.json()["detail"] == str(access.ENTRY_REFUSED)


def test_out_of_scope_is_a_page_in_the_layout_saying_what_to_do(client, other_coordinator, patient):
    client.force_login(other_coordinator)
    response = client.get(reverse("registry:patient-detail", args=[patient.pk]))
    assert response.status_code == 404
    assert {"404.html", "base.html"} <= set(templates_of(response))
    text = response.content.decode()
    assert "no such record among the centers you may see" in text and "ask a data manager" in text
    assert "MLL98-0090" not in text


# --- A user without a role ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/imports/", "/exports/", "/exports/dictionary.md", "/queries/", "/reports/"])
def test_a_user_without_a_role_gets_the_no_role_page(client, outsider, url):
    client.force_login(outsider)
    response = client.get(url)
    assert response.status_code == 403
    assert "registry/no_role.html" in templates_of(response)
    text = response.content.decode()
    assert "no role in the registry" in text and "Ask a registry administrator" in text
    assert 'aria-label="Main"' not in text  # no menu of things they cannot do


def test_a_user_without_a_role_on_the_api_is_told_to_ask_an_administrator(outsider):
    response = api_client(outsider).get("/api/v1/patients/")
    assert response.status_code == 403 and "Ask a registry administrator" in response.json()["detail"]


# --- Menus show what the role may do ------------------------------------------------------------------


def _menu(client, user):
    client.force_login(user)
    text = client.get("/").content.decode()
    return text[text.index('aria-label="Main"') : text.index("</nav>")]


def test_coordinators_see_import_investigators_do_not(client, coordinator, investigator, data_manager):
    assert 'href="/imports/"' in _menu(client, coordinator)
    for user in (investigator, data_manager):
        menu = _menu(client, user)
        assert 'href="/imports/"' not in menu and 'href="/exports/"' in menu
