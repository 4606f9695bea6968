"""tests/bench/run.py: how `make bench` and its parts write docs/benchmarks.md (nothing is timed here)."""

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
