"""Benchmark of the report pages at one cohort size, for tests.bench.run.

``measure`` runs ``python -m tests.bench.report N`` in its own process against the database
seeded with N patients, where the analyses bench has already stored study-wide runs (if none
are there, the report analyses are run first). Django's test Client, logged in as an
investigator of all centers, requests the study dashboard and the outcome report 20 times each;
the report is also timed cold (its tables not yet cached). The process prints one JSON line.
"""

import json
import statistics
import sys
import time

import django

REQUESTS = 20


def _timed_requests(client, url, n=REQUESTS):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries, size = [], [], 0
    for _ in range(n):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
        queries.append(len(captured))
        size = len(response.content)
    return {
        "median_ms": 1000 * statistics.median(times),
        "max_ms": 1000 * max(times),
        "queries": max(queries),
        "bytes": size,
    }


def main(n):
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache, caches
    from django.test import Client
    from django.test.utils import setup_test_environment

    from analysis import analyses, runs
    from analysis.models import AnalysisRun
    from registry.models import Membership

    setup_test_environment()  # lets the test Client run against this database with ALLOWED_HOSTS
    if any(run is None for run in runs.latest_runs(names=analyses.REPORT_ANALYSES).values()):
        for name in analyses.REPORT_ANALYSES:
            runs.execute_run(AnalysisRun.objects.create(name=name, trigger=AnalysisRun.Trigger.COMMAND).pk)
    user, _ = get_user_model().objects.get_or_create(username="bench-investigator")
    Membership.objects.update_or_create(user=user, defaults={"role": "INVESTIGATOR", "center": None})
    client = Client()
    client.force_login(user)

    out = {"patients": n}
    cache.clear()
    start = time.perf_counter()
    assert client.get("/reports/outcomes/").status_code == 200
    out["report_cold_ms"] = 1000 * (time.perf_counter() - start)
    out["report"] = _timed_requests(client, "/reports/outcomes/")
    # The dashboard's counts are kept per data revision: "cold" is the first request after a data
    # change (the counts computed, as the refresh after data changes does ahead of it), then warm.
    caches["summaries"].clear()
    start = time.perf_counter()
    assert client.get("/reports/").status_code == 200
    out["dashboard_cold_ms"] = 1000 * (time.perf_counter() - start)
    out["dashboard"] = _timed_requests(client, "/reports/")
    run = runs.latest_runs(names=["os_after_second_line"])["os_after_second_line"]
    out["figure_svg"] = _timed_requests(client, f"/reports/runs/{run.pk}/figures/os_overall.svg", n=5)
    print(json.dumps(out))


def measure(n, env):
    from .run import in_subprocess

    return in_subprocess("tests.bench.report", n, env)


def fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(results):
    lines = [
        "## Report pages",
        "",
        f"Median of {REQUESTS} requests through Django's test Client (no network), logged in as an investigator",
        "of all centers, against the stored study-wide runs. **report cold**: the first request after the report",
        "tables' cache was cleared (it parses the runs' results once); later requests reuse the tables built for",
        "those run ids. **queries**: database queries per request. The figures are separate requests for the",
        "runs' stored SVGs (**figure**: the overall OS curve). **dashboard**: its counts are kept per data",
        "revision (`analysis.dashboard.study_counts`); **dashboard cold** is the first request after a data change,",
        "which computes them (the refresh after data changes does so ahead of the first reader), **dashboard** the",
        "median after it; **vs 1,000**: dashboard time / its time at the smallest size.",
        "",
        "| patients | dashboard cold | dashboard | vs 1,000 | queries | report cold | report | queries | page size "
        "| figure | figure size |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    smallest = results[0]["dashboard"]["median_ms"] if results else None
    for r in results:
        lines.append(
            f"| {r['patients']:,} | {fmt(r.get('dashboard_cold_ms'))} ms | {fmt(r['dashboard']['median_ms'])} ms | "
            f"{r['dashboard']['median_ms'] / smallest:.2f}x | {r['dashboard']['queries']} | "
            f"{fmt(r['report_cold_ms'])} ms | {fmt(r['report']['median_ms'])} ms | {r['report']['queries']} | "
            f"{r['report']['bytes'] / 1024:.0f} KB | {fmt(r['figure_svg']['median_ms'])} ms | "
            f"{r['figure_svg']['bytes'] / 1024:.0f} KB |"
        )
    lines += [
        "",
        "Targets: the report page as fast with 100,000 patients as with 80 (its query count is constant); the",
        "dashboard at 100,000 patients within 1.1x of its time at 1,000.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main(int(sys.argv[1]))
