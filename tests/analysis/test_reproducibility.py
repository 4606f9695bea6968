"""The reproducibility package: every number of the demo report recomputed by R and by Python
from the package's files alone, in an empty folder."""

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from django.core.management import call_command
from django.urls import reverse

from registry import services
from registry.models import ExportLog, Patient
from tests.factories import UserFactory

PACKAGE = reverse("analysis:reproducibility")


@pytest.fixture
def demo_report(db):
    call_command("seed_demo", stdout=io.StringIO())
    call_command("run_analyses", stdout=io.StringIO())


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

    r = subprocess.run([_rscript(), "reproduce.R"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{n} of {n} numbers of the report reproduced with R" in r.stdout

    py = subprocess.run([sys.executable, "reproduce.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert py.returncode == 0, py.stdout + py.stderr
    assert f"{n} of {n} numbers of the report reproduced with Python" in py.stdout

    # A number the data do not give is named, and the scripts fail.
    target = next(x for x in expected["numbers"] if x["id"] == "time_dependent.td_cox.hsct.coef")
    target["value"] += 1e-4
    (tmp_path / "expected.json").write_text(json.dumps(expected))
    r = subprocess.run([_rscript(), "reproduce.R"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "DIFFERENT time_dependent.td_cox.hsct.coef" in r.stdout
    py = subprocess.run([sys.executable, "reproduce.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert py.returncode == 1 and "DIFFERENT time_dependent.td_cox.hsct.coef" in py.stdout


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
