"""The query workflow in a real headless Chromium (Debian's), as tests/browser does it.

A data manager raises a query on a relapse date; the center's coordinator sees it beside the
field and in the worklist, answers it and corrects the date with the reason prefilled; the data
manager closes it; the other center's coordinator gets 404 by page and by API; the query's and
the field's history show every step. Skipped without /usr/bin/chromium unless
REGISTRY_REQUIRE_SERVICES=1.
"""

from datetime import timedelta

import pytest
from django.test import Client

from registry.models import Relapse
from registry.queries.models import DataQuery
from tests.browser.test_reports_browser import ARTIFACTS, browser, log_in  # noqa: F401 (the fixture)
from tests.factories import CenterFactory, PatientFactory, UserFactory, relapsed_course

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_raise_answer_correct_and_close_a_query_in_the_browser(browser, live_server):  # noqa: F811
    tokyo = CenterFactory(code="TKY01", name="Tokyo Children's Hospital")
    osaka = CenterFactory(code="OSK02", name="Osaka Medical Center")
    patient = relapsed_course(PatientFactory(center=tokyo, study_id="MLL96-0001"))
    relapse = Relapse.objects.get(patient=patient)
    UserFactory(username="datamanager", role="DATA_MANAGER")
    UserFactory(username="coord", role="COORDINATOR", center=tokyo)
    osaka_coordinator = UserFactory(username="coord2", role="COORDINATOR", center=osaka)
    patient_url = f"{live_server.url}/patients/{patient.pk}/"

    manager = log_in(browser, live_server, "datamanager")
    manager.goto(patient_url)
    manager.locator("li.event.relapse").get_by_role("link", name="Raise a query").click()
    manager.select_option("select[name=field]", "relapse_date")
    manager.fill("textarea[name=message]", "The marrow report is dated three days earlier: please check.")
    manager.get_by_role("button", name="Raise the query").click()
    assert manager.inner_text("#query-status") == "Open"
    query = DataQuery.objects.get()
    detail_url = f"{live_server.url}/queries/{query.pk}/"

    coordinator = log_in(browser, live_server, "coord")
    coordinator.goto(patient_url)
    assert "1 open query" in coordinator.locator("li.event.relapse").inner_text()
    coordinator.goto(live_server.url + "/")
    coordinator.locator("#worklist-table").get_by_role("link", name=f"Q{query.pk}").click()
    coordinator.fill("textarea[name=message]", "You are right; corrected from the marrow report.")
    coordinator.get_by_role("button", name="Answer").click()
    assert coordinator.inner_text("#query-status") == "Answered"
    coordinator.click("#correct-data")
    reason = coordinator.input_value("input[name=reason]")
    assert reason.startswith(f"Answer to query #{query.pk}: The marrow report")
    corrected = relapse.relapse_date - timedelta(days=3)
    coordinator.fill("input[name=relapse_date]", corrected.isoformat())
    coordinator.get_by_role("button", name="Save").click()
    coordinator.wait_for_url(patient_url)
    assert Relapse.objects.get(pk=relapse.pk).relapse_date == corrected

    manager.goto(detail_url)
    manager.fill("textarea[name=message]", "Thank you.")
    manager.get_by_role("button", name="Close").click()
    assert manager.inner_text("#query-status") == "Closed"
    field_history = manager.inner_text("#field-history-table")
    assert relapse.relapse_date.isoformat() in field_history and corrected.isoformat() in field_history
    assert reason in field_history
    steps = manager.inner_text("#query-history-table")
    assert all(word in steps for word in ("Open", "Answered", "Closed", "datamanager", "coord"))

    outsider = log_in(browser, live_server, "coord2")
    assert outsider.goto(detail_url).status == 404
    api = Client()
    api.force_login(osaka_coordinator)
    assert api.get(f"/api/v1/queries/{query.pk}/").status_code == 404
    outsider.goto(live_server.url + "/")
    assert outsider.locator("#worklist-table").count() == 0
    manager.screenshot(path=ARTIFACTS / "query-closed.png", full_page=True)
