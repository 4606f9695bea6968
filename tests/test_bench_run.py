"""tests/bench/run.py: how `make bench` and its parts write docs/benchmarks.md and clean up after
themselves (nothing is timed here)."""

import os
import types

import psycopg
import pytest
from django.db import connection

from tests.bench import run, stats_vs_r


def _report(tmp_path, monkeypatch):
    report = tmp_path / "benchmarks.md"
    report.write_text("# Benchmarks\n\nWritten by make bench.\n\n## A\n\nold a\n\n## B\n\nold b\n")
    monkeypatch.setattr(run, "REPORT", report)
    return report


def test_a_section_measured_apart_replaces_its_own_and_says_when_and_at_which_commit(tmp_path, monkeypatch):
    report = _report(tmp_path, monkeypatch)
    run.merge_report(["## B\n\nnew b"], "b")
    text = report.read_text()
    assert "old a" in text and "new b" in text and "old b" not in text
    assert f"at commit {run.commit()} by `python -m tests.bench.run --only b`, apart from" in text


def test_the_statistics_against_r_section_is_merged_with_its_commit(tmp_path, monkeypatch):
    report = _report(tmp_path, monkeypatch)

    def measure(n, repeats):
        rows = [{"key": key, "python": 0.5, "r": 1.0, "diff": 1e-12} for key in stats_vs_r.STATISTICS]
        return {"patients": n, "rows": rows, "r_version": "R version 4"}

    monkeypatch.setattr(stats_vs_r, "measure", measure)
    stats_vs_r.main(["--sizes", "1000", "--repeats", "1"])
    text = report.read_text()
    assert "old a" in text and "old b" in text
    section = text[text.index("## Statistics against R") :]
    assert f"at commit {run.commit()} by `python -m tests.bench.stats_vs_r`" in section
    assert "apart from" not in section  # it says when it was measured itself
    assert "| 1,000 | 0.500 s | 1.000 s | 0.50 |" in section


def test_a_size_drops_its_database_afterwards_even_when_a_measurement_fails(postgres_only, monkeypatch):
    settings = connection.settings_dict
    server = f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/"
    name = f"test_bench_size_{os.getpid()}"
    monkeypatch.setattr(run, "SERVER", server)
    monkeypatch.setattr(run, "DB_NAME", name)
    monkeypatch.setattr(run, "manage", lambda env, *args: None)  # no migrations, no seed: an empty database
    seen = []

    def measure(n, env):
        seen.append(env["DATABASE_URL"])
        raise RuntimeError("the benchmark broke")

    with pytest.raises(RuntimeError, match="the benchmark broke"):
        run.bench_size(10, [types.SimpleNamespace(__name__="tests.bench.broken", measure=measure)])
    assert seen == [server + name]  # it ran against its own database ...
    with psycopg.connect(server.replace("postgres://", "postgresql://") + "postgres") as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name]).fetchone()[0]
    assert left == 0  # ... and dropped it
