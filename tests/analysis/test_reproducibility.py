"""The reproducibility package: every number of the demo report recomputed by R and by Python
from the package's files alone, in an empty folder."""

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from django.core.management import call_command
from django.urls import reverse

from analysis.analyses import to_python
from analysis.analyses.salvage_regimens import salvage_lines, salvage_regimens
from analysis.reproducibility import expected_numbers
from registry import services
from registry.models import ExportLog, Patient, SalvageLine
from tests.factories import UserFactory

PACKAGE = reverse("analysis:reproducibility")


@pytest.fixture
def demo_report(db):
    call_command("seed_demo", stdout=io.StringIO())
    _uncode_two_lines()
    call_command("run_analyses", stdout=io.StringIO())


def _uncode_two_lines():
    """The demo codes every regimen: two lines after recurrence (one a second-line therapy, one a
    later line) get a regimen text the list does not know, so the report has a "not coded" row."""
    lines = SalvageLine.objects.select_related("patient").order_by("patient_id", "start_date", "pk")
    by_patient = {}
    for line in lines:
        by_patient.setdefault(line.patient_id, []).append(line)
    first = next(rows[0] for rows in by_patient.values())
    later = next(rows[1] for rows in by_patient.values() if len(rows) > 1 and rows[0] is not first)
    for line in (first, later):
        line.regimen, line.regimen_code = "local block", ""
        services.save_record(user=None, record=line, source="test", reason="regimen not in the list")
        assert line.regimen_code == ""


@pytest.fixture
def statistician(demo_report):
    return UserFactory(username="statistician", role="INVESTIGATOR")


def _unzip(content, folder):
    zipfile.ZipFile(io.BytesIO(content)).extractall(folder)
    return json.loads((folder / "expected.json").read_text())


def _rscript():
    found = shutil.which("Rscript")
    if not found:
        if os.getenv("REGISTRY_REQUIRE_SERVICES") == "1":
            pytest.fail("REGISTRY_REQUIRE_SERVICES=1 but Rscript is not installed")
        pytest.skip("needs Rscript (R with the survival and cmprsk packages)")
    return found


def test_the_demo_package_reproduces_every_number_in_r_and_python(client, statistician, tmp_path):
    client.force_login(statistician)
    response = client.get(PACKAGE)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    expected = _unzip(response.content, tmp_path)
    n = len(expected["numbers"])
    assert n > 300 and {r["analysis"] for r in expected["runs"]} >= {"os_after_second_line", "time_dependent"}
    assert sorted(p.name for p in (tmp_path / "data").iterdir())[0] == "first_line_responses.csv"
    assert ExportLog.objects.filter(kind="reproducibility", user=statistician).count() == 1
    regimens = {x["regimen_code"] for x in expected["numbers"] if x["kind"] == "salvage_regimen"}
    assert len(regimens - {"", None}) >= 2 and {"", None} <= regimens
    by_id = {x["id"]: x["value"] for x in expected["numbers"]}
    assert by_id["salvage_regimens.regimen=(not coded).n_lines"] == 2
    assert by_id["salvage_regimens.regimen=(not coded).n_second_line"] == 1
    assert by_id["salvage_regimens.all.n_second_line"] == by_id["cohort_summary.n_with_second_line"]

    r = subprocess.run([_rscript(), "reproduce.R"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{n} of {n} numbers of the report reproduced with R" in r.stdout

    py = subprocess.run([sys.executable, "reproduce.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert py.returncode == 0, py.stdout + py.stderr
    assert f"{n} of {n} numbers of the report reproduced with Python" in py.stdout

    # A number the data do not give is named, and the scripts fail.
    changed = ["time_dependent.td_cox.hsct.coef", "salvage_regimens.regimen=(not coded).upper"]
    for target in (x for x in expected["numbers"] if x["id"] in changed):
        target["value"] += 1e-4
    (tmp_path / "expected.json").write_text(json.dumps(expected))
    r = subprocess.run([_rscript(), "reproduce.R"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and all(f"DIFFERENT {name}" in r.stdout for name in changed), r.stdout
    assert f"{n - 2} of {n} numbers" in r.stdout
    py = subprocess.run([sys.executable, "reproduce.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert py.returncode == 1 and all(f"DIFFERENT {name}" in py.stdout for name in changed), py.stdout
    assert f"{n - 2} of {n} numbers" in py.stdout


def test_remission_by_regimen_numbers_per_code_not_coded_and_all():
    course = pd.DataFrame({"patient_id": [1, 2, 3], "salvage_lines_coded": ["FLAG:PR ICE:CR", "FLAG:CR", ":NE"]})
    numbers = expected_numbers({"salvage_regimens": to_python(salvage_regimens(salvage_lines(course)))})
    by_id = {x["id"]: x for x in numbers}
    assert by_id["salvage_regimens.regimen=FLAG.n_second_line"]["value"] == 2
    assert by_id["salvage_regimens.regimen=FLAG.lower"]["value"] == pytest.approx(0.01257912, abs=1e-8)
    assert by_id["salvage_regimens.regimen=ICE.proportion"]["regimen_code"] == "ICE"
    assert by_id["salvage_regimens.all.n_lines"]["regimen_code"] is None
    assert by_id["salvage_regimens.all.successes"]["value"] == 2
    # The not-coded line has no evaluable response: its counts are numbers, its remission is not.
    assert by_id["salvage_regimens.regimen=(not coded).n_evaluable"]["value"] == 0
    assert "salvage_regimens.regimen=(not coded).successes" not in by_id


def test_no_package_once_the_data_changed_since_the_runs(client, statistician):
    patient = Patient.objects.order_by("pk").first()
    patient.wbc = patient.wbc + 1
    services.save_record(user=None, record=patient, source="test", reason="data changed after the runs")
    client.force_login(statistician)
    response = client.get(PACKAGE, follow=True)
    assert response.redirect_chain and "recompute the report first" in response.content.decode()
    assert not ExportLog.objects.filter(kind="reproducibility").exists()


def test_coordinators_get_no_package(client, demo_report):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="coordinator"))
    assert client.get(PACKAGE).status_code == 403
