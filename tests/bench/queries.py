"""Benchmark of data management at one cohort size, for tests.bench.run.

``measure`` runs ``python -m tests.bench.queries N`` in its own process against the database
seeded with N patients (``seed_demo --bulk`` leaves the rules to this bench). It times the
data-quality rules' first run (which raises every query) and a second run (which finds the same
and writes nothing), then requests through Django's test Client the coordinator's home page (the
worklist), the data manager's dashboard, its CSV, the data-quality report and the API's list of
open queries, counting database queries per request. The process prints one JSON line.
"""

import json
import sys
import time

import django

from tests.bench.report import _timed_requests

MAX_PATIENTS = 100_000  # tests.bench.run: the rules' first run at 1,000,000 would take minutes and say nothing new


def main(n):
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import setup_test_environment

    from registry.models import Membership, Patient
    from registry.queries import services
    from registry.queries.models import DataQuery

    setup_test_environment()
    out = {"patients": n}
    start = time.perf_counter()
    first = services.run_quality_checks(source="command:bench")
    out["rules_first_run_seconds"] = time.perf_counter() - start
    out["queries_raised"] = sum(r["raised"] for r in first.values())
    start = time.perf_counter()
    second = services.run_quality_checks(source="command:bench")
    out["rules_second_run_seconds"] = time.perf_counter() - start
    out["queries_raised_again"] = sum(r["raised"] for r in second.values())

    largest = Patient.objects.values("center").annotate(n=Count("pk")).order_by("-n").first()["center"]
    users = get_user_model().objects
    coordinator, _ = users.get_or_create(username="bench-coordinator")
    Membership.objects.update_or_create(user=coordinator, defaults={"role": "COORDINATOR", "center_id": largest})
    manager, _ = users.get_or_create(username="bench-datamanager")
    Membership.objects.update_or_create(user=manager, defaults={"role": "DATA_MANAGER", "center": None})
    out["open_at_worklist_center"] = DataQuery.objects.filter(status="open", patient__center_id=largest).count()

    client = Client()
    client.force_login(coordinator)
    out["worklist"] = _timed_requests(client, "/")
    client.force_login(manager)
    out["dashboard"] = _timed_requests(client, "/queries/dashboard/")
    out["dashboard_csv"] = _timed_requests(client, "/queries/dashboard.csv", n=5)
    out["quality"] = _timed_requests(client, "/queries/quality/", n=5)
    out["api_open"] = _timed_requests(client, "/api/v1/queries/?status=open", n=5)
    print(json.dumps(out))


def measure(n, env):
    # The two-factor gate is production's; the bench logs in with force_login.
    env = {**env, "REGISTRY_REQUIRE_2FA": "0"}
    from .run import in_subprocess

    return in_subprocess("tests.bench.queries", n, env)


def fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(results):
    lines = [
        "## Data queries and data-quality rules",
        "",
        "`services.run_quality_checks` on the seeded cohort: the **first run** raises every rule's queries (bulk",
        "inserts with their messages and history rows); the **second run** finds the same records and writes",
        "nothing. Pages through Django's test Client: the coordinator's home page with the **worklist** (their",
        "center's open queries, oldest first), the data manager's **dashboard** and its CSV, the **data-quality",
        "report**, and the API's first page of open queries. **q**: database queries per request, which must",
        "not grow with the cohort.",
        "",
        "| patients | queries raised | first run | second run | worklist | q | dashboard | q | CSV | q "
        "| quality | q | API | q |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        cells = [
            f"{fmt(r[k]['median_ms'])} ms | {r[k]['queries']}"
            for k in ("worklist", "dashboard", "dashboard_csv", "quality", "api_open")
        ]
        lines.append(
            f"| {r['patients']:,} | {r['queries_raised']:,} | {fmt(r['rules_first_run_seconds'])} s | "
            f"{fmt(r['rules_second_run_seconds'])} s | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main(int(sys.argv[1]))
