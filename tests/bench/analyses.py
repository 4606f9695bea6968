"""Benchmark of the outcome analyses at one cohort size (run in its own process by tests.bench.run).

Usage: python -m tests.bench.analyses N   (DATABASE_URL names a database seeded with N patients)
Prints one JSON line of measurements.
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import django


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main(n):
    django.setup()
    from analysis import datasets, runs
    from analysis.models import AnalysisRun

    AnalysisRun.objects.all().delete()
    out = {"patients": n, "analyses": {}}
    course, out["extract_seconds"] = timed(datasets.course_frame)

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


if __name__ == "__main__":
    main(int(sys.argv[1]))
