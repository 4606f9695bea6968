"""The de-identified export rebuilds the stored analyses: R's numbers from the exported files alone.

tests/reference/rebuild_from_export.R reads the CSV files of the analysis ZIP and recomputes OS
after second-line treatment (Kaplan-Meier at 1, 3, 5 years with its standard error), the
log-rank test by HSCT after recurrence and the time-dependent HSCT Cox model. Its output for the
default demo cohort (``seed_demo``, 80 patients) is committed as tests/reference/export_rebuild.json.
Here the demo cohort is seeded, the stored runs computed, the ZIP exported, and

* the stored runs agree with the committed R output to 1e-6;
* the export holds the same records as the file R read, and Python recomputes the same numbers
  from the exported patients table;
* where Rscript is installed, the R script on the fresh export gives the committed numbers again
  (a missing Rscript skips that part, or fails it when REGISTRY_REQUIRE_SERVICES=1).

Regenerate the JSON (after a deliberate change to the demo cohort or the definitions) from an
empty database: ``manage.py migrate``, ``manage.py seed_demo``, download the analysis ZIP
(``GET /api/v1/exports/analysis/zip/``), unzip it into a folder and run
``Rscript tests/reference/rebuild_from_export.R <folder>`` (the pseudonym key does not change a
number). docs/analysis-data-set.md has the steps.
"""

import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from analysis import stats
from analysis.models import AnalysisRun
from registry.transfer import exports
from tests.factories import UserFactory

REFERENCE = Path(__file__).resolve().parent / "reference"
SCRIPT = REFERENCE / "rebuild_from_export.R"
COMMITTED = json.loads((REFERENCE / "export_rebuild.json").read_text())
PSEUDONYM_KEY = "export-rebuild-reference"
TOL = 1e-6
YEARS = (365.25, 1095.75, 1826.25)


def _close(actual, expected, what):
    a = np.array([np.nan if v is None else v for v in np.atleast_1d(actual)], dtype=float)
    e = np.array([np.nan if v is None else v for v in np.atleast_1d(expected)], dtype=float)
    assert a.shape == e.shape and np.array_equal(np.isnan(a), np.isnan(e)), f"{what}: {a} vs R {e}"
    worst = float(np.max(np.abs(a - e), initial=0.0, where=~np.isnan(a)))
    assert worst <= TOL, f"{what}: max abs difference {worst:.3g} > {TOL:g}\n ours {a}\n R    {e}"


def _stored_numbers():
    """The committed JSON's numbers, read from the stored runs of the registry."""
    os2 = AnalysisRun.objects.filter(name="os_after_second_line", status="succeeded").latest("finished_at")
    td = AnalysisRun.objects.filter(name="time_dependent", status="succeeded").latest("finished_at")
    at = os2.results["overall"]["at_times"]
    hsct = next(u for u in os2.results["univariate"] if u["factor"] == "hsct")
    terms = {t["term"]: t for t in td.results["time_dependent_cox"]["model"]["terms"]}
    return {
        "n": os2.results["n"],
        "surv": [a["survival"] for a in at],
        "std_err": [a["std_err"] for a in at],
        "chisq": hsct["logrank"]["chi2"],
        "coef": [terms[name]["coef"] for name in COMMITTED["time_dependent_cox"]["terms"]],
        "se": [terms[name]["se"] for name in COMMITTED["time_dependent_cox"]["terms"]],
    }


def _check(numbers, r, who):
    assert numbers["n"] == r["os_after_second_line"]["n"], who
    _close(numbers["surv"], r["os_after_second_line"]["km"]["surv"], f"{who}: OS at 1, 3, 5 years")
    _close(numbers["std_err"], r["os_after_second_line"]["km"]["std_err"], f"{who}: its standard error")
    _close(numbers["chisq"], r["logrank_hsct"]["chisq"], f"{who}: log-rank chi-square by HSCT")
    _close(numbers["coef"], r["time_dependent_cox"]["coef"], f"{who}: time-dependent Cox coefficients")
    _close(numbers["se"], r["time_dependent_cox"]["se"], f"{who}: their standard errors")


def _python_from_export(files):
    """OS after second-line treatment, recomputed in Python from the exported patients table."""
    p = pd.read_csv(io.BytesIO(files["patients.csv"]), encoding="utf-8-sig")
    pop = p[p["recurrence_days"].notna() & p["second_line_days"].notna()]
    time = (pop["end_days"] - pop["second_line_days"]).clip(lower=0)
    event = pop["death_days"].notna().astype(int)
    km = stats.kaplan_meier(time, event, times=YEARS)
    logrank = stats.logrank_test(time, event, pop["hsct_after_recurrence"].astype(str))
    return {
        "n": len(pop),
        "surv": [a["survival"] for a in km["at_times"]],
        "std_err": [a["std_err"] for a in km["at_times"]],
        "chisq": logrank["chi2"],
    }


@pytest.fixture
def demo_export(db, settings, tmp_path):
    """The default demo cohort, its stored runs, and its analysis ZIP unzipped into tmp_path."""
    settings.EXPORT_PSEUDONYM_KEY = PSEUDONYM_KEY
    call_command("seed_demo", stdout=io.StringIO())
    call_command("run_analyses", "--name", "os_after_second_line", "--name", "time_dependent", stdout=io.StringIO())
    statistician = UserFactory(username="rebuild-statistician", role="INVESTIGATOR")
    content, content_type, _ = exports.export(user=statistician, kind="analysis", fmt="zip", source="test")
    assert content_type == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(content))
    archive.extractall(tmp_path)
    # The SAS transport v5 files beside them: the R script reads patients.xpt with foreign::read.xport.
    xpt5, _, _ = exports.export(user=statistician, kind="analysis", fmt="xpt5", source="test")
    zipfile.ZipFile(io.BytesIO(xpt5)).extractall(tmp_path)
    return {name: archive.read(name) for name in archive.namelist()}, tmp_path


def test_stored_runs_match_the_committed_r_rebuild(demo_export):
    files, _ = demo_export
    for table, n in COMMITTED["counts"].items():
        rows = len(pd.read_csv(io.BytesIO(files[f"{table}.csv"]), encoding="utf-8-sig"))
        assert rows == n, f"{table}: the export has {rows} rows, R read {n}"
    _check(_stored_numbers(), COMMITTED, "stored run vs committed R")
    python = _python_from_export(files)
    r = COMMITTED["os_after_second_line"]
    assert python["n"] == r["n"]
    _close(python["surv"], r["km"]["surv"], "Python from the export: OS")
    _close(python["std_err"], r["km"]["std_err"], "Python from the export: SE")
    _close(python["chisq"], COMMITTED["logrank_hsct"]["chisq"], "Python from the export: log-rank")


def _rscript():
    found = shutil.which("Rscript")
    if found is None:
        if os.getenv("REGISTRY_REQUIRE_SERVICES") == "1":
            pytest.fail("REGISTRY_REQUIRE_SERVICES=1 but Rscript is not installed")
        pytest.skip("needs Rscript (R with the survival package)")
    return found


def test_r_script_on_a_fresh_export_gives_the_stored_numbers(demo_export):
    rscript = _rscript()
    _, folder = demo_export
    out = folder / "rebuild.json"
    done = subprocess.run([rscript, str(SCRIPT), str(folder), str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "with foreign::read.xport: 80 rows" in done.stderr, done.stderr
    fresh = json.loads(out.read_text())
    assert fresh["counts"] == COMMITTED["counts"]
    _check(_stored_numbers(), fresh, "stored run vs R on the fresh export")
