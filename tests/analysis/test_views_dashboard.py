"""The study dashboard: registrations, recurrences and completeness of the user's centers; latest runs."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.analysis.report_data import compute_report, registry_cohort
from tests.factories import FirstLineResponseFactory, PatientFactory

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("analysis:dashboard")


@pytest.fixture
def cohort(center, other_center):
    patients = registry_cohort(3, center=center)
    patients += registry_cohort(2, center=other_center, trial_code="MLL98", start=3)
    refractory = PatientFactory(center=other_center, study_id="MLL98-0900", cns_status="UNKNOWN")
    FirstLineResponseFactory(patient=refractory, outcome="INDUCTION_FAILURE")
    return patients + [refractory]


def rows_by_center(response):
    return {row["center__code"]: row for row in response.context["by_center"]}


@pytest.mark.parametrize(
    "persona, expected",
    [
        ("investigator", 200),
        ("center_investigator", 200),
        ("coordinator", 200),
        ("data_manager", 200),
        ("admin_user", 200),
        ("outsider", 403),
    ],
)
def test_who_sees_the_dashboard(client, request, persona, expected):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(DASHBOARD).status_code == expected


def test_counts_by_center_trial_and_year(client, investigator, cohort):
    client.force_login(investigator)
    response = client.get(DASHBOARD)
    centers = rows_by_center(response)
    assert centers["TKY01"]["n"] == 3 and centers["OSK02"]["n"] == 3
    assert centers["OSK02"]["relapsed"] == 2 and centers["OSK02"]["refractory"] == 1
    assert response.context["totals"]["recurrent_or_refractory"] == 6
    assert {t["code"]: t["n"] for t in response.context["trials"]} == {"MLL96": 4, "MLL98": 2}
    assert [(r["year"], r["total"]) for r in response.context["by_year"]] == [(1996, 6)]


def test_completeness_and_missing_follow_up(client, investigator, cohort):
    client.force_login(investigator)
    centers = rows_by_center(client.get(DASHBOARD))
    # TKY01: every required item recorded; the old follow-ups are more than 12 months ago.
    assert centers["TKY01"]["completeness"] == 1.0
    assert centers["TKY01"]["no_recent_follow_up"] == 2  # one of the three died
    # OSK02's refractory patient: CNS unknown, no follow-up, no salvage line: 3 of 7 items missing.
    assert centers["OSK02"]["completeness"] == pytest.approx((6 * 3 + 3 - 3) / (6 * 3 + 3))


def test_a_coordinator_sees_only_their_center(client, coordinator, cohort):
    client.force_login(coordinator)
    response = client.get(DASHBOARD)
    assert set(rows_by_center(response)) == {"TKY01"}
    page = response.content.decode()
    assert "OSK02" not in page and "Outcome report" not in page


def test_the_latest_runs_with_status_time_and_fingerprint(client, investigator, cohort):
    runs_ = compute_report()
    client.force_login(investigator)
    page = client.get(DASHBOARD).content.decode()
    run = runs_["os_after_second_line"]
    assert run.fingerprint[:12] in page and "Succeeded" in page
    assert "never run" not in page


def test_runs_are_listed_only_for_those_who_read_outcomes_and_only_in_their_scope(
    client, coordinator, center_investigator, cohort
):
    runs_ = compute_report()  # study-wide runs
    fingerprint = runs_["os_after_second_line"].fingerprint[:12]
    client.force_login(coordinator)
    page = client.get(DASHBOARD).content.decode()
    assert fingerprint not in page and "Latest analysis runs" not in page
    client.force_login(center_investigator)
    page = client.get(DASHBOARD).content.decode()
    assert "Latest analysis runs" in page and fingerprint not in page  # study-wide runs are not theirs


def test_the_dashboard_costs_the_same_queries_whatever_the_number_of_patients(client, investigator, center):
    client.force_login(investigator)
    registry_cohort(2, center=center)
    with CaptureQueriesContext(connection) as small:
        client.get(DASHBOARD)
    registry_cohort(10, center=center, start=2)
    with CaptureQueriesContext(connection) as large:
        client.get(DASHBOARD)
    assert len(small) == len(large) <= 15


def test_the_counts_are_kept_per_data_revision_and_follow_every_write(client, investigator, center):
    client.force_login(investigator)
    registry_cohort(2, center=center)
    assert rows_by_center(client.get(DASHBOARD))["TKY01"]["n"] == 2
    with CaptureQueriesContext(connection) as again:
        client.get(DASHBOARD)
    assert not any("registry_relapse" in q["sql"] for q in again.captured_queries)  # read from the cache
    registry_cohort(1, center=center, start=2)  # a write moves the data revision: counted at once
    assert rows_by_center(client.get(DASHBOARD))["TKY01"]["n"] == 3


def test_without_the_cache_the_dashboard_still_answers(client, investigator, center, settings):
    # The shared cache is down (nothing listens on this port): counted per request, never an error.
    unreachable = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    settings.CACHES = {**settings.CACHES, "summaries": unreachable}
    client.force_login(investigator)
    registry_cohort(1, center=center)
    assert rows_by_center(client.get(DASHBOARD))["TKY01"]["n"] == 1
