"""Benchmark of the outcome analyses at one cohort size, for tests.bench.run.

``measure`` runs ``python -m tests.bench.analyses N`` in its own process (so peak memory is
this size's), against the database seeded with N patients; that process prints one JSON line.
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[2]


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main(n):
    django.setup()
    from analysis import runs
    from analysis.models import AnalysisRun
    from registry.course import course_frame

    AnalysisRun.objects.all().delete()
    out = {"patients": n, "analyses": {}}
    course, out["extract_seconds"] = timed(course_frame)

    # The engine's overhead: a whole run (extract, fingerprint, compute, draw, store) against the
    # statistics calls alone on frames already in memory.
    compute_total = 0.0
    frames_by_name = {}
    for name, analysis in runs.ANALYSES.items():
        frames, build = timed(analysis.inputs, course)
        frames_by_name[name] = frames
        _, compute = timed(analysis.compute, frames)
        compute_total += compute
        out["analyses"][name] = {"build_frames_seconds": build, "statistics_seconds": compute}
    whole_start = time.perf_counter()
    for name in runs.ANALYSES:
        run = AnalysisRun.objects.create(name=name, trigger=AnalysisRun.Trigger.COMMAND)
        run = runs.execute_run(run.pk)
        assert run.status == "succeeded", run.error
        out["analyses"][name]["whole_run_seconds"] = run.duration_seconds
    out["whole_run_seconds"] = time.perf_counter() - whole_start
    out["statistics_seconds"] = compute_total
    out["overhead_ratio"] = out["whole_run_seconds"] / compute_total
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # R's survival on the same frames, exported to CSV.
    with tempfile.TemporaryDirectory() as tmp:
        os2 = frames_by_name["os_after_second_line"]["frame"]
        os2.to_csv(Path(tmp) / "os2.csv", index=False)
        frames_by_name["time_dependent"]["counting_process"].to_csv(Path(tmp) / "cp.csv", index=False)
        frames_by_name["competing_risks"]["relapse"].to_csv(Path(tmp) / "cir.csv", index=False)
        frames_by_name["outcomes_from_diagnosis"]["os"].to_csv(Path(tmp) / "osdx.csv", index=False)
        script = Path(__file__).with_name("analysis_bench.R")
        try:
            result = subprocess.run(["Rscript", str(script), tmp], capture_output=True, text=True, timeout=1800)
            line = [ln for ln in result.stdout.splitlines() if ln.startswith("seconds=")]
            out["r_seconds"] = float(line[0].split("=")[1]) if line else None
            if not line:
                out["r_error"] = result.stderr[-500:]
        except FileNotFoundError:
            out["r_seconds"], out["r_error"] = None, "Rscript not installed"
    if out.get("r_seconds"):
        out["r_ratio"] = compute_total / out["r_seconds"]
    print(json.dumps(out))


def measure(n, env):
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.analyses", str(n)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(results):
    names = list(results[0]["analyses"])
    lines = [
        "## Outcome analyses",
        "",
        "- **seed**: `seed_demo` for N patients with their whole course (audited bulk writes).",
        "- **extract**: one `course_frame()` (the set-based queries and the per-patient frame).",
        f"- **whole run**: all {len(names)} analyses through `analysis.runs.execute_run`, as the Celery worker runs",
        "  them: extract, build frames, fingerprint, statistics, figures, store.",
        "- **statistics only**: the same statistics calls (lifelines and our own) on frames already in memory.",
        "- **overhead**: whole run / statistics only (target < 1.5x).",
        "- **R survival**: R's survival/cmprsk making the comparable core calls (KM with summary, reverse KM, log-rank",
        "  and KM per factor, Cox with cox.zph, counting-process Cox, cuminc with Gray's test, OS from diagnosis by",
        "  trial) on the same frames exported to CSV (`tests/bench/analysis_bench.R`), timed inside R;",
        "  **ours / R** = statistics only / R.",
        "- **peak RSS**: peak resident memory of the measuring process.",
        "",
        "| patients | seed | extract | whole run | statistics only | overhead | R survival | ours / R | peak RSS |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['patients']:,} | {fmt(r['seed_seconds'], 1)} s | {fmt(r['extract_seconds'])} s | "
            f"{fmt(r['whole_run_seconds'])} s | {fmt(r['statistics_seconds'])} s | {fmt(r['overhead_ratio'])}x | "
            f"{fmt(r.get('r_seconds'))} s | {fmt(r.get('r_ratio'))}x | {fmt(r['peak_rss_mb'], 0)} MB |"
        )
    lines += [
        "",
        "Per analysis, seconds (build frames / statistics / whole run):",
        "",
        "| patients | " + " | ".join(names) + " |",
        "| ---: |" + " ---: |" * len(names),
    ]
    for r in results:
        cells = [
            f"{fmt(a['build_frames_seconds'])} / {fmt(a['statistics_seconds'])} / {fmt(a['whole_run_seconds'])}"
            for a in (r["analyses"][n] for n in names)
        ]
        lines.append(f"| {r['patients']:,} | " + " | ".join(cells) + " |")
    lines += ["", "Target: the 100,000-patient whole run under 60 s on two cores."]
    return "\n".join(lines)


if __name__ == "__main__":
    main(int(sys.argv[1]))
