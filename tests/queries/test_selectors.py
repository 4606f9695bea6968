"""The worklist, the dashboard and the progress reads: their numbers, and a constant number of
database queries per request at two cohort sizes."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from registry.models import Relapse
from registry.queries import selectors, services
from registry.queries.models import DataQuery
from tests.factories import PatientFactory, relapsed_course

pytestmark = pytest.mark.django_db


def cohort(center, other_center, data_manager, n):
    for _ in range(n):
        for where in (center, other_center):
            patient = relapsed_course(PatientFactory(center=where))
            relapse = Relapse.objects.get(patient=patient)
            services.raise_query(
                user=data_manager, record_type="relapse", record_id=relapse.pk, field="site", message="?", source="t"
            )
            services.verify_fields(user=data_manager, record_type="patient", record_id=patient.pk, source="t")


def queries_for_page(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "url_name, persona",
    [
        ("registry:patient-list", "coordinator"),
        ("queries:dashboard", "data_manager"),
        ("queries:sdv", "data_manager"),
        ("queries:quality", "data_manager"),
    ],
)
def test_worklist_dashboard_and_progress_cost_the_same_at_two_sizes(
    login, center, other_center, data_manager, url_name, persona
):
    client = login(persona)
    url = reverse(url_name)
    cohort(center, other_center, data_manager, 2)
    small = queries_for_page(client, url)
    cohort(center, other_center, data_manager, 6)
    assert queries_for_page(client, url) == small


def test_the_worklist_is_the_coordinators_open_queries_oldest_first(center, other_center, data_manager, coordinator):
    cohort(center, other_center, data_manager, 3)
    oldest = DataQuery.objects.filter(patient__center=center).last()
    DataQuery.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(days=20))
    items, total = selectors.worklist(coordinator)
    assert total == 3 and items[0].query == oldest and items[0].age_days == 20
    assert {item.query.patient.center for item in items} == {center}
    assert selectors.worklist(data_manager) == ([], 0)


def test_the_dashboard_counts_statuses_median_age_and_overdue(center, other_center, data_manager, coordinator):
    cohort(center, other_center, data_manager, 2)
    tokyo = list(DataQuery.objects.filter(patient__center=center))
    DataQuery.objects.filter(pk=tokyo[0].pk).update(created_at=timezone.now() - timedelta(days=30))
    services.answer_query(user=coordinator, query=tokyo[1], message="done", source="t")
    rows, total = selectors.dashboard(data_manager)
    by_center = {r.center: r for r in rows}
    assert (by_center["TKY01"].open, by_center["TKY01"].answered, by_center["TKY01"].overdue) == (1, 1, 1)
    assert by_center["TKY01"].median_age_days == pytest.approx(30, abs=0.1)
    assert (total.open, total.answered, total.closed, total.overdue) == (3, 1, 0, 1)


def test_sdv_progress_percent_by_center_and_patient(center, other_center, data_manager):
    cohort(center, other_center, data_manager, 1)
    rows = {r.key: r for r in selectors.sdv_progress(data_manager)}
    # Each patient: 12 patient fields verified of 12 + 2 + 2 + 5 + 7 + 6 fields.
    assert rows["TKY01"].verified == 12 and rows["TKY01"].fields == 34
    assert rows["TKY01"].percent == pytest.approx(35.3)
    (patient,) = selectors.sdv_progress(data_manager, by="patient", center="TKY01")
    assert patient.percent == pytest.approx(35.3)
