"""Benchmark of the REST API and the bulk import at one cohort size, for tests.bench.run.

``measure(n, env)`` runs two processes:

* ``python -m tests.bench.api_import api N`` against the database seeded with N patients: pages of
  100 patients with their events from ``/api/v1/patients/`` (first, middle and last pages, token
  authentication, in process through Django's WSGI stack without a network), latency and
  throughput, and the queries per request.
* ``python -m tests.bench.api_import import N``: the identified export of the whole seeded cohort
  (a ZIP of one CSV file per entity) is imported into a fresh scratch database through
  ``registry.transfer.imports`` as one file: dry run, commit (every record checked by
  ``services.save_courses``: field validators, record rules, chronology, then written by
  ``COPY`` with a history row per record from the trail's triggers, in one transaction), and the
  same file again (which must change nothing). The data-quality rules that a commit hands to a
  Celery task (``run_quality_checks``, after the commit) are timed apart. Then the same rows are
  loaded with PostgreSQL ``COPY`` into typed tables of the same columns in the same database,
  for the ratio; and, for context, the committed records and their history rows copied into tables
  like the registry's (indexes and constraints, no triggers): what storing them costs PostgreSQL alone.
"""

import base64
import io
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path, PurePath

import django

ROOT = Path(__file__).resolve().parents[2]
PAGE_SIZE = 100
REPEATS = 5
# tests.bench.run: the import's target (commit <= 10x COPY) is set at 100,000 patients; at 1,000,000 the
# export, dry run, commit and re-import would take most of an hour and say nothing the ratio does not.
MAX_PATIENTS = 100_000


def _api(n):
    django.setup()
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from registry.models import Membership

    user = Membership.objects.filter(role="INVESTIGATOR", center__isnull=True).select_related("user").first().user
    token = Token.objects.get_or_create(user=user)[0].key
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    pages = max(1, -(-n // PAGE_SIZE))
    out = {"patients": n, "page_size": PAGE_SIZE, "pages": {}}
    from rest_framework.throttling import SimpleRateThrottle

    SimpleRateThrottle.allow_request = lambda self, request, view: True  # measure the API, not the throttle
    client.get(f"/api/v1/patients/?page_size={PAGE_SIZE}")  # warm up
    # The list is paged by cursor: follow the next links once to find every page's URL.
    urls, url = [], f"/api/v1/patients/?page_size={PAGE_SIZE}"
    while url:
        urls.append(url)
        url = client.get(url).json()["next"]
    assert len(urls) == pages, (len(urls), pages)
    all_times = []
    for label, page in (("first", 1), ("middle", max(1, pages // 2)), ("last", pages)):
        times, queries, count = [], [], 0
        for _ in range(REPEATS):
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                response = client.get(urls[page - 1])
                times.append(time.perf_counter() - start)
            assert response.status_code == 200, response.content[:300]
            count = len(response.json()["results"])
            queries.append(len(captured))
        all_times += times
        out["pages"][label] = {
            "page": page,
            "median_ms": statistics.median(times) * 1000,
            "queries": max(queries),
            "patients": count,
            "bytes": len(response.content),
        }
    out["median_ms"] = statistics.median(all_times) * 1000
    out["p95_ms"] = sorted(all_times)[int(0.95 * (len(all_times) - 1))] * 1000
    out["patients_per_second"] = PAGE_SIZE / statistics.median(all_times)
    out["queries_per_request"] = max(p["queries"] for p in out["pages"].values())
    print(json.dumps(out))


def _export(n):
    """The identified export of every seeded patient: a ZIP of one CSV file per entity."""
    django.setup()
    from registry.models import Patient
    from registry.transfer import exports

    content, _ = exports.identified_export(Patient.objects.all(), "zip")
    return {"zip": base64.b64encode(content).decode()}


def _import(n, scratch_url):
    """In the scratch database (migrated, empty): the import, then COPY of the same rows."""
    import resource
    import zipfile

    os.environ["DATABASE_URL"] = scratch_url
    django.setup()
    from django.db import connection

    from registry.demo import seeding
    from registry.queries.tasks import run_quality_checks
    from registry.transfer import imports
    from registry.transfer.data_dictionary import DATE, DECIMAL, INTEGER, SHEETS_BY_NAME
    from registry.transfer.imports import courses as import_courses

    archive = base64.b64decode(json.loads(sys.stdin.read())["zip"])
    files = {
        PurePath(name).stem: zipfile.ZipFile(io.BytesIO(archive)).read(name).decode("utf-8-sig")
        for name in zipfile.ZipFile(io.BytesIO(archive)).namelist()
    }
    seeding.ensure_centers()
    seeding.trials_by_code()
    rows = sum(len(text.splitlines()) - 1 for text in files.values())
    out = {"patients": n, "rows": rows, "zip_bytes": len(archive)}

    class Handed:  # the Celery task a commit hands its rules to: run after the commit, timed apart
        handed = 0

        def delay(self):
            Handed.handed += 1

    import_courses.run_quality_checks = Handed()
    for phase, commit in (("dry_run", False), ("commit", True), ("reimport", True)):
        start = time.perf_counter()
        report = imports.check_and_write(user=None, file_name="registry.zip", content=archive, commit=commit)
        assert report["problem_count"] == 0, report["problems"][:3]
        assert report["committed"] == commit
        seconds = time.perf_counter() - start
        out[f"{phase}_seconds"] = seconds
        out[f"{phase}_rows_per_second"] = rows / seconds
        if phase == "reimport":  # the same file again: nothing to write
            assert all(s["create"] == s["update"] == 0 for s in report["sheets"].values()), report["sheets"]
        if phase == "commit":
            assert Handed.handed == 1
            start = time.perf_counter()
            run_quality_checks()
            out["quality_checks_seconds"] = time.perf_counter() - start
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    sql_types = {DATE: "date", DECIMAL: "numeric(7,1)", INTEGER: "integer"}
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for name, sheet in SHEETS_BY_NAME.items():
            columns = ", ".join(f"{c.name} {sql_types.get(c.kind, 'varchar(300)')}" for c in sheet.columns)
            cursor.execute(f"CREATE TEMP TABLE copy_{name} ({columns})")
            with cursor.cursor.copy(f"COPY copy_{name} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                copy.write(files[name].encode("utf-8"))
    out["copy_seconds"] = time.perf_counter() - start
    out["copy_rows_per_second"] = rows / out["copy_seconds"]
    out["copy_ratio"] = out["commit_seconds"] / out["copy_seconds"]
    out.update(_stored_copy(connection))
    out["stored_copy_ratio"] = out["commit_seconds"] / out["stored_copy_seconds"]
    print(json.dumps(out))


def _stored_copy(connection):
    """What storing the import's rows costs PostgreSQL alone: the imported records and their history
    rows, copied out of the registry's tables, then by ``COPY`` into tables like them (the same
    columns, indexes, constraints and defaults; logged, as the registry's are; no triggers, so no
    checks, no chain and no foreign keys), in one transaction."""
    from django.db import transaction

    from registry.trail import CLINICAL_TABLES

    tables = [*CLINICAL_TABLES, *CLINICAL_TABLES.values()]
    dumps = {}
    with connection.cursor() as cursor:
        for table in tables:
            buffer = io.BytesIO()
            with cursor.cursor.copy(f"COPY {table} TO STDOUT") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            dumps[table] = buffer.getvalue()
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"CREATE TABLE stored_{table} (LIKE {table} INCLUDING ALL)")
            with cursor.cursor.copy(f"COPY stored_{table} FROM STDIN") as copy:
                copy.write(dumps[table])
    return {
        "stored_copy_seconds": time.perf_counter() - start,
        "stored_rows": sum(dump.count(b"\n") for dump in dumps.values()),
    }


SCRATCH = "mll_registry_bench_import"


def _server(env):
    """The server of ``env``'s database, as ``tests.bench.run`` names one (its URL up to the name)."""
    return env["DATABASE_URL"].rpartition("/")[0] + "/"


def _scratch_database(env):
    from .run import recreate_database

    scratch = recreate_database(SCRATCH, _server(env))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env={**env, "DATABASE_URL": scratch},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return scratch


def _run(env, *args, stdin=None):
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.api_import", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
    )
    if result.returncode:
        raise RuntimeError(f"tests.bench.api_import {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(n, env):
    api = _run(env, "api", str(n))
    files = _run(env, "export", str(n))
    from .run import commit, drop_database

    scratch = _scratch_database(env)
    try:
        imported = _run({**env, "DATABASE_URL": scratch}, "import", str(n), scratch, stdin=json.dumps(files))
    finally:
        drop_database(SCRATCH, _server(env))

    measured = {"measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"), "commit": commit()}
    return {"api": {**api, **measured}, "import": {**imported, **measured}}


def _measured(results, part):
    """When and at which commit: ``--only api_import`` updates these two sections alone."""
    first = results[0][part] if results else {}
    return (
        f"Measured on {first.get('measured_at', '-')} UTC at commit {first.get('commit', '-')}; "
        "`python -m tests.bench.run --only api_import` updates the REST API and bulk import sections alone."
    )


def markdown(results):
    lines = [
        "## REST API",
        "",
        _measured(results, "api"),
        "`GET /api/v1/patients/?page_size=100` (patients with their first-line response, relapses, salvage lines,",
        "transplants and follow-ups), token authentication, in process through Django's WSGI stack (no network);",
        f"first, middle and last page, {REPEATS} requests each. Latency is the median and 95th percentile over all",
        "of them (pages are reached by following the `next` links: cursor pagination); throughput is patients",
        "per second at the median; queries are per request (token, membership, page, four prefetches).",
        "",
        "| patients | median | p95 | patients/s | queries/request | first / middle / last page (ms) |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for result in results:
        api = result["api"]
        pages = " / ".join(f"{api['pages'][k]['median_ms']:.0f}" for k in ("first", "middle", "last"))
        lines.append(
            f"| {api['patients']:,} | {api['median_ms']:.0f} ms | {api['p95_ms']:.0f} ms "
            f"| {api['patients_per_second']:,.0f} | {api['queries_per_request']} | {pages} |"
        )
    lines += [
        "",
        "## Bulk import",
        "",
        _measured(results, "import"),
        "The identified export of the whole seeded cohort (a ZIP of one CSV file per entity) imported as one file",
        "into a fresh database through `registry.transfer.imports`, as the system: the dry run (every cell parsed,",
        "every course checked by `services.check_courses`, nothing written), the commit (the same checks, then the",
        "rows written by `COPY`, `registry.bulk_copy`, the trail's triggers writing and hash-chaining a history row",
        "per record, in one transaction) and the same file again (nothing to change). **rules**: the data-quality",
        "rules the commit hands to a Celery task, timed apart. **COPY**: the same rows loaded by PostgreSQL `COPY`",
        "into typed tables of the same columns in the same database and run; **ratio** = commit time / COPY time.",
        "**COPY as stored** (context, not the target): the committed records and their history rows copied by",
        "`COPY` into tables like the registry's (the same columns, indexes, constraints; logged; no triggers), so",
        "PostgreSQL's own cost of storing what the commit stores, without checks, hash chain or foreign keys.",
        "Peak memory is the import process's. The commit does for every row what COPY does not: parse and check",
        "each cell against the data dictionary, check each patient's whole course (model rules and chronology) and",
        "write a chained history row; the dry run is that work without the writes.",
        "",
        "| patients | rows | ZIP | dry run rows/s | commit | commit rows/s | rules | re-import | COPY rows/s "
        "| commit / COPY | COPY as stored | commit / stored | peak RSS |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        imp = result["import"]
        lines.append(
            f"| {imp['patients']:,} | {imp['rows']:,} | {imp['zip_bytes'] / 1e6:.1f} MB "
            f"| {imp['dry_run_rows_per_second']:,.0f} | {imp['commit_seconds']:.1f} s "
            f"| {imp['commit_rows_per_second']:,.0f} | {imp.get('quality_checks_seconds', 0):.1f} s "
            f"| {imp['reimport_seconds']:.1f} s "
            f"| {imp['copy_rows_per_second']:,.0f} | {imp['copy_ratio']:,.0f}x "
            f"| {_seconds(imp.get('stored_copy_seconds'))} | {_ratio(imp.get('stored_copy_ratio'))} "
            f"| {imp['peak_rss_mb']:,.0f} MB |"
        )
    return "\n".join(lines)


def _seconds(value):
    return "-" if value is None else f"{value:.2f} s"


def _ratio(value):
    return "-" if value is None else f"{value:,.0f}x"


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.config.settings")
    mode, size = sys.argv[1], int(sys.argv[2])
    if mode == "api":
        _api(size)
    elif mode == "export":
        print(json.dumps(_export(size)))
    else:
        _import(size, sys.argv[3])
