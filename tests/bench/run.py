"""`make bench`: seed cohorts of 1,000, 10,000 and 100,000 patients and measure the analyses.

Each size gets a fresh PostgreSQL database (BENCH_DATABASE_URL's server, default the local one),
seeded by `manage.py seed_demo --patients N`; the measurements run in separate processes so that
peak memory is per size. The table is written to docs/benchmarks.md. Timings are measured here,
never asserted in tests.

Usage: python -m tests.bench.run [--sizes 1000,10000,100000]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
SERVER = os.getenv("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
DB_NAME = "mll_registry_bench"


def recreate_database():
    with psycopg.connect(SERVER.replace("postgres://", "postgresql://") + "postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    return SERVER + DB_NAME


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def bench_size(n):
    env = {**os.environ, "DATABASE_URL": recreate_database(), "DJANGO_SETTINGS_MODULE": "registry.settings"}
    env.pop("REDIS_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    manage(env, "migrate", "--noinput")
    start = time.perf_counter()
    manage(env, "seed_demo", "--patients", str(n), "--seed", "1")
    seed_seconds = time.perf_counter() - start
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.analyses", str(n)], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    measured["seed_seconds"] = seed_seconds
    return measured


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def analyses_table(results):
    names = list(results[0]["analyses"])
    lines = [
        "| patients | seed | extract | whole run | statistics only | overhead | R survival | ours / R | peak RSS |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['patients']:,} | {fmt(r['seed_seconds'], 1)} s | {fmt(r['extract_seconds'])} s | "
            f"{fmt(r['whole_run_seconds'])} s | {fmt(r['statistics_seconds'])} s | {fmt(r['overhead_ratio'])}x | "
            f"{fmt(r.get('r_seconds'))} s | {fmt(r.get('r_ratio'))}x | {fmt(r['peak_rss_mb'], 0)} MB |"
        )
    lines += ["", "Per analysis (seconds: build frames / statistics / whole run):", "",
              "| patients | " + " | ".join(names) + " |", "| ---: |" + " ---: |" * len(names)]
    for r in results:
        cells = [
            f"{fmt(a['build_frames_seconds'])} / {fmt(a['statistics_seconds'])} / {fmt(a['whole_run_seconds'])}"
            for a in (r["analyses"][n] for n in names)
        ]
        lines.append(f"| {r['patients']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(results):
    path = ROOT / "docs" / "benchmarks.md"
    cpu = platform.processor() or platform.machine()
    text = f"""# Benchmarks

Written by `make bench` (`tests/bench/run.py`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores
({cpu}), PostgreSQL on localhost, Python {platform.python_version()}. Each size is a fresh database seeded with
`manage.py seed_demo --patients N --seed 1`; each measurement runs in its own process.

## Outcome analyses

- **seed**: `seed_demo` for N patients with their whole course (bulk path above 2,000 patients, audited).
- **extract**: one `course_frame()` (the set-based queries and the per-patient frame).
- **whole run**: all {len(results[0]['analyses'])} analyses through `analysis.runs.execute_run`, as the Celery
  worker runs them: extract, build frames, fingerprint, statistics, figures, store.
- **statistics only**: the same statistics calls on frames already in memory.
- **overhead**: whole run / statistics only (target < 1.5x).
- **R survival**: R's survival/cmprsk doing the comparable core calls (KM with summary, reverse KM, log-rank and KM
  per factor, Cox with cox.zph, counting-process Cox, cuminc with Gray's test, OS from diagnosis by trial) on the
  same frames exported to CSV (`tests/bench/analysis_bench.R`), timed inside R; **ours / R** = statistics only / R.
- **peak RSS**: peak resident memory of the measuring process.

{analyses_table(results)}

Target: the 100,000-patient whole run under 60 s on two cores.
"""
    path.write_text(text)
    print(text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        print(f"benchmarking {n:,} patients ...", file=sys.stderr, flush=True)
        results.append(bench_size(n))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    write_report(results)


if __name__ == "__main__":
    main()
