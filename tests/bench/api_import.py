"""Benchmark of the REST API and the bulk import at one cohort size, for tests.bench.run.

``measure(n, env)`` runs two processes:

* ``python -m tests.bench.api_import api N`` against the database seeded with N patients: pages of
  100 patients with their events from ``/api/v1/patients/`` (first, middle and last pages, token
  authentication, in process through Django's WSGI stack without a network), latency and
  throughput, and the queries per request.
* ``python -m tests.bench.api_import import N``: the identified export (an XLSX workbook) of a
  slice of the seeded patients is imported into a fresh scratch database through
  ``registry.imports`` (dry run, then commit: every record through ``services.save_record`` with
  full validation, chronology and audit), then the same rows are loaded with PostgreSQL ``COPY``
  into typed tables of the same columns in the same database, for the ratio. The slice is at most
  IMPORT_SLICE patients: the validated import runs at a few hundred records a second, so a
  100,000-patient file would take far longer than the rest of the benchmark (rows/second do not
  depend on the file's size, as each record is validated and saved on its own).
"""

import base64
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[2]
IMPORT_SLICE = int(os.getenv("BENCH_IMPORT_SLICE", "2000"))
PAGE_SIZE = 100
REPEATS = 5


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
    all_times = []
    for label, page in (("first", 1), ("middle", max(1, pages // 2)), ("last", pages)):
        times, queries, count = [], [], 0
        for _ in range(REPEATS):
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                response = client.get(f"/api/v1/patients/?page_size={PAGE_SIZE}&page={page}")
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


def _export_slice(n):
    """The identified export of the first IMPORT_SLICE patients, as {sheet: CSV bytes}."""
    django.setup()
    from registry import exports
    from registry.models import Patient

    ids = list(Patient.objects.order_by("study_id").values_list("pk", flat=True)[:IMPORT_SLICE])
    tables = exports.identified_tables(Patient.objects.filter(pk__in=ids))
    return {
        "xlsx": base64.b64encode(exports.write_xlsx(tables)).decode(),
        "csv": {name: exports.write_csv(header, rows).decode("utf-8") for name, (header, rows) in tables.items()},
    }


def _import(n, scratch_url):
    """In the scratch database (migrated, empty): the import, then COPY of the same rows."""
    os.environ["DATABASE_URL"] = scratch_url
    django.setup()
    from django.db import connection

    from registry import demo, imports
    from registry.data_dictionary import DATE, DECIMAL, INTEGER, SHEETS_BY_NAME

    payload = json.loads(sys.stdin.read())
    workbook, files = base64.b64decode(payload["xlsx"]), payload["csv"]
    demo.ensure_centers()
    demo.trials_by_code()
    rows = sum(text.count("\r\n") - 1 for text in files.values())
    out = {"patients": min(n, IMPORT_SLICE), "rows": rows, "xlsx_bytes": len(workbook)}
    for phase, commit in (("dry_run", False), ("commit", True)):
        start = time.perf_counter()
        report = imports.check_and_write(user=None, file_name="registry.xlsx", content=workbook, commit=commit)
        assert report["problem_count"] == 0, report["problems"][:3]
        assert report["committed"] == commit
        seconds = time.perf_counter() - start
        out[f"{phase}_seconds"] = seconds
        out[f"{phase}_rows_per_second"] = rows / seconds

    sql_types = {DATE: "date", DECIMAL: "numeric(7,1)", INTEGER: "integer"}
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for name, sheet in SHEETS_BY_NAME.items():
            columns = ", ".join(f"{c.name} {sql_types.get(c.kind, 'varchar(300)')}" for c in sheet.columns)
            cursor.execute(f"CREATE TEMP TABLE copy_{name} ({columns})")
            body = files[name].lstrip("\ufeff")
            with cursor.cursor.copy(f"COPY copy_{name} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                copy.write(body.encode("utf-8"))
    out["copy_seconds"] = time.perf_counter() - start
    out["copy_rows_per_second"] = rows / out["copy_seconds"]
    out["copy_ratio"] = out["commit_seconds"] / out["copy_seconds"]
    print(json.dumps(out))


def _scratch_database(env):
    import psycopg

    url = env["DATABASE_URL"]
    server, _, _ = url.rpartition("/")
    name = "mll_registry_bench_import"
    with psycopg.connect(server.replace("postgres://", "postgresql://") + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    scratch = f"{server}/{name}"
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
    scratch = _scratch_database(env)
    imported = _run({**env, "DATABASE_URL": scratch}, "import", str(n), scratch, stdin=json.dumps(files))
    return {"api": api, "import": imported}


def markdown(results):
    lines = [
        "## REST API and bulk import",
        "",
        "- **API list**: `GET /api/v1/patients/?page_size=100` (patients with their first-line response, relapses,",
        "  salvage lines, transplants and follow-ups), token authentication, in process through Django's WSGI stack",
        f"  (no network); first, middle and last page, {REPEATS} requests each. Latency is the median and 95th",
        "  percentile over all of them; throughput is patients per second at the median; queries are per request",
        "  (token, membership, count, page, four prefetches: the same at every page size and cohort size).",
        f"- **import**: the identified export (one XLSX workbook) of the first {IMPORT_SLICE:,} patients (or all,",
        "  if fewer) imported into a fresh database through `registry.imports`: every record validated and saved by",
        "  `services.save_record` (model rules, chronology, audit row, one transaction). **COPY**: the same rows",
        "  (as CSV) loaded by PostgreSQL `COPY` into typed tables of the same columns in the same database and run;",
        "  **ratio** = import commit time / COPY time. The slice keeps the run short; the rate does not depend on",
        "  the file's size since each record is validated on its own.",
        "",
        "| patients | API median | API p95 | patients/s | queries/request | first / middle / last page (ms) "
        "| import slice | rows | dry run rows/s | commit rows/s | COPY rows/s | import / COPY |",
        "| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        api, imp = result["api"], result["import"]
        pages = " / ".join(f"{api['pages'][k]['median_ms']:.0f}" for k in ("first", "middle", "last"))
        lines.append(
            f"| {api['patients']:,} | {api['median_ms']:.0f} ms | {api['p95_ms']:.0f} ms "
            f"| {api['patients_per_second']:,.0f} "
            f"| {api['queries_per_request']} | {pages} | {imp['patients']:,} | {imp['rows']:,} "
            f"| {imp['dry_run_rows_per_second']:,.0f} | {imp['commit_rows_per_second']:,.0f} "
            f"| {imp['copy_rows_per_second']:,.0f} | {imp['copy_ratio']:,.0f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
    mode, size = sys.argv[1], int(sys.argv[2])
    if mode == "api":
        _api(size)
    elif mode == "export":
        print(json.dumps(_export_slice(size)))
    else:
        _import(size, sys.argv[3])
