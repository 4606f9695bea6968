"""`make bench`: seed cohorts of 1,000, 100,000 and 1,000,000 patients and measure the registry.

Each size gets a fresh PostgreSQL database (BENCH_DATABASE_URL's server, default the local one),
seeded by `manage.py seed_demo --patients N` and dropped once its measurements are done (the
import's scratch database too); the measurements run in separate processes so that peak memory is
per size. The table is written to docs/benchmarks.md. Timings are measured here,
never asserted in tests.

Usage: python -m tests.bench.run [--sizes 1000,100000,1000000] [--only writers,queries]

A benchmark module may set ``MAX_PATIENTS``: the largest size it runs at (the concurrent writers,
the data-quality rules, the course entry, the API and the import measure behaviour that the largest
cohort would only slow down; the analyses and the report pages run at every size).

``--only`` runs the named benchmarks (the last part of their module name) and replaces only their
sections of docs/benchmarks.md, keeping the others as they are. ``stats_vs_r`` (each statistic
against R, tests/bench/stats_vs_r.py) runs last and needs no database.
"""

import argparse
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
SERVER = os.getenv("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
DB_NAME = "mll_registry_bench"
REPORT = ROOT / "docs" / "benchmarks.md"


def commit():
    """The short hash of the checked-out commit (the code measured), or "-" outside a git checkout."""
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip() or "-"


def recreate_database(name, server=None):
    """A new, empty database ``name`` on ``server`` (default SERVER; dropped first if a bench left
    one); its URL."""
    server = server or SERVER
    drop_database(name, server)
    with psycopg.connect(server.replace("postgres://", "postgresql://") + "postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server + name


def drop_database(name, server=None):
    """Drop the bench's database ``name`` on ``server`` (default SERVER): a seeded size is gigabytes
    at 1,000,000 patients, and nothing is left behind."""
    server = server or SERVER
    with psycopg.connect(server.replace("postgres://", "postgresql://") + "postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def in_subprocess(module, n, env):
    """Run ``python -m <module> n`` against ``env``'s database, in its own process (so its peak
    memory is this size's); the module prints its result as the last line of its output, JSON."""
    result = subprocess.run(
        [sys.executable, "-m", module, str(n)], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


# Each benchmark module has measure(n, env) -> dict (it runs its own subprocesses against the
# database seeded with n patients) and markdown(results) -> str, a section of docs/benchmarks.md.
BENCHES = [
    "tests.bench.analyses",
    "tests.bench.report",
    "tests.bench.queries",
    "tests.bench.api_import",
    "tests.bench.writers",
    "tests.bench.course_entry",
]


def bench_size(n, modules):
    modules = [module for module in modules if n <= getattr(module, "MAX_PATIENTS", n)]
    if not modules:  # no benchmark runs at this size: nothing to seed
        return {}
    env = {
        **os.environ,
        "DATABASE_URL": recreate_database(DB_NAME),
        "DJANGO_SETTINGS_MODULE": "registry.config.settings",
    }
    try:
        return _measured(n, modules, env)
    finally:
        drop_database(DB_NAME)


def _measured(n, modules, env):
    """{module name: its results} on the new database of ``env``, seeded with ``n`` patients."""
    env.pop("REDIS_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    manage(env, "migrate", "--noinput")
    start = time.perf_counter()
    manage(env, "seed_demo", "--patients", str(n), "--seed", "1", "--bulk")
    seed_seconds = time.perf_counter() - start
    # Planner statistics, as autovacuum gathers them after a bulk load (it is off on CI machines).
    with psycopg.connect(env["DATABASE_URL"].replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute("ANALYZE")
        # The bulk load's dirty pages written out now, not by a checkpoint in the middle of a measurement.
        conn.execute("CHECKPOINT")
    return {module.__name__: {"seed_seconds": seed_seconds, **module.measure(n, env)} for module in modules}


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def write_report(sections):
    cpu = platform.processor() or platform.machine()
    header = f"""# Benchmarks

Written by `make bench` (`tests/bench/run.py`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at commit
{commit()}, {os.cpu_count()} cores ({cpu}), PostgreSQL on localhost, Python {platform.python_version()}.
Each size is a fresh database seeded with `manage.py seed_demo --patients N --seed 1 --bulk` (the seed
time is in the first table), then `ANALYZE`d, as autovacuum would after a bulk load, and checkpointed
(the load's pages written out before anything is measured); each measurement runs in its own process.
Timings are measured here and never asserted in tests.
"""
    text = header + "\n" + "\n\n".join(sections) + "\n"
    REPORT.write_text(text)
    print(text)


def _by_heading(text):
    """{'## heading': its text up to the next '## ' heading}, in order."""
    parts = re.split(r"^(?=## )", text, flags=re.MULTILINE)
    return {part.splitlines()[0]: part.rstrip("\n") for part in parts if part.startswith("## ")}


def merge_report(sections, only):
    """Replace only the given sections of docs/benchmarks.md (by their '## ' heading); add new ones at the end.
    A section that does not say when it was measured says so under its heading: not by the make bench
    the header names."""
    text = REPORT.read_text()
    stamp = (
        f"Measured on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at commit {commit()} by "
        f"`python -m tests.bench.run --only {only}`, apart from the `make bench` above."
    )
    for heading, new in _by_heading("\n\n".join(sections)).items():
        if "Measured on" not in new:
            new = new.replace(heading + "\n", f"{heading}\n\n{stamp}\n", 1)
        old = _by_heading(text).get(heading)
        text = text.replace(old, new) if old else text.rstrip("\n") + "\n\n" + new + "\n"
    REPORT.write_text(text)
    print("\n\n".join(sections))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--only", help="comma-separated benchmarks, e.g. writers: run them, update their sections")
    args = parser.parse_args()
    names = BENCHES
    if args.only:
        wanted = set(args.only.split(","))
        names = [name for name in BENCHES if name.rpartition(".")[2] in wanted]
        unknown = wanted - {name.rpartition(".")[2] for name in names} - {"stats_vs_r"}
        if unknown:
            parser.error(f"unknown benchmark {', '.join(sorted(unknown))}; known: {', '.join(BENCHES)}")
    modules = [importlib.import_module(name) for name in names]
    by_module = {m.__name__: [] for m in modules}
    for n in [int(s) for s in args.sizes.split(",")] if modules else []:
        print(f"benchmarking {n:,} patients ...", file=sys.stderr, flush=True)
        for name, result in bench_size(n, modules).items():
            by_module[name].append(result)
            print(json.dumps(result)[:500], file=sys.stderr, flush=True)
    sections = [m.markdown(by_module[m.__name__]) for m in modules]
    if args.only:
        merge_report(sections, args.only)
    else:
        write_report(sections)
    if not args.only or "stats_vs_r" in args.only.split(","):
        # no database: its own cohort at 1,000 to 1,000,000 patients; replaces its own section
        importlib.import_module("tests.bench.stats_vs_r").main([])


if __name__ == "__main__":
    main()
