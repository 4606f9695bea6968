"""``manage.py backup`` / ``restore`` (registry/ops/backup.py): a restore is verified against the manifest.

On PostgreSQL: a few patients entered through the services and two analysis runs are backed up
from the test database (in process), then restored by ``manage.py restore`` in a subprocess into
a fresh database of their own (created and dropped here). The verification passes on a faithful
restore and names what differs once a row is deleted in the restored database and a count is
altered in the manifest; a forced restore replaces the tampered database. A non-empty database
and a damaged dump are refused before anything is restored. On SQLite both commands refuse:
backups are for PostgreSQL.
"""

import json
import os
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from analysis import runs
from analysis.models import AnalysisRun
from registry.ops import backup
from tests.factories import relapsed_course

ROOT = Path(__file__).resolve().parents[2]


def _server_url(name):
    s = connection.settings_dict
    password = f":{quote(str(s['PASSWORD']), safe='')}" if s["PASSWORD"] else ""
    return (
        f"postgres://{quote(s['USER'] or '', safe='')}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"
    )


def _admin(statement):
    with psycopg.connect(_server_url("postgres").replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def backed_up(postgres_only, transactional_db, center, tmp_path):
    """A dump of the test database holding three courses, one edit and two successful runs."""
    patients = [relapsed_course(center=center) for _ in range(3)]
    from registry import services

    patients[0].wbc = 42
    services.save_record(user=None, record=patients[0], source="test", reason="lab value corrected")
    for name, parameters in (("os_after_second_line", {}), ("cohort_summary", {"center": center.code})):
        run = AnalysisRun.objects.create(name=name, trigger=AnalysisRun.Trigger.COMMAND, parameters=parameters)
        assert runs.execute_run(run.pk).status == "succeeded"
    out = StringIO()
    call_command("backup", str(tmp_path / "registry.dump"), stdout=out)
    assert "2 analysis fingerprints" in out.getvalue() and "Audit trail intact" in out.getvalue()
    return tmp_path / "registry.dump"


@pytest.fixture
def fresh_database(postgres_only):
    name = f"test_restore_{uuid.uuid4().hex[:10]}"
    _admin(f"CREATE DATABASE {name}")
    yield _server_url(name)
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def manage(database_url, *args):
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "text"}
    return subprocess.run(
        [sys.executable, "manage.py", *args, "--skip-checks"], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_the_manifest_describes_the_dump_and_bad_restores_are_refused(backed_up):
    manifest = json.loads(backup.manifest_path(backed_up).read_text())
    assert manifest["tables"]["registry_patient"] == 3
    assert manifest["tables"]["registry_historicalpatient"] == 4  # three creations, one edit
    assert manifest["trail"]["intact"]
    assert manifest["trail"]["heads"]["registry_historicalpatient"][0] == 4
    recorded = {entry["analysis"]: entry for entry in manifest["analysis_runs"]}
    assert recorded.keys() == {"os_after_second_line", "cohort_summary"}
    for entry in recorded.values():
        stored = AnalysisRun.objects.get(pk=entry["run"])
        assert entry["fingerprint"] == entry["data_fingerprint"] == stored.fingerprint
    assert manifest["dump_bytes"] == backed_up.stat().st_size

    with pytest.raises(CommandError, match="is not empty") as refused:
        call_command("restore", str(backed_up))  # into the test database itself: refused, nothing restored
    assert "FORCE=1" in str(refused.value)
    with open(backed_up, "r+b") as dump:
        dump.seek(-10, os.SEEK_END)
        dump.write(b"0123456789")
    with pytest.raises(CommandError, match="checksum differs"):
        call_command("restore", str(backed_up), "--force")


def test_a_restore_is_verified_what_differs_is_named_and_force_replaces_it(backed_up, fresh_database):
    restored = manage(fresh_database, "restore", str(backed_up))
    assert restored.returncode == 0, restored.stderr
    assert "the audit trail is intact" in restored.stdout
    assert "2 analysis runs' data give their recorded fingerprints" in restored.stdout

    # Tampered: a follow-up deleted in the restored database, a count altered in the manifest.
    with psycopg.connect(fresh_database.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute("DELETE FROM registry_followup WHERE id = (SELECT min(id) FROM registry_followup)")
    manifest_file = backup.manifest_path(backed_up)
    original = manifest_file.read_text()
    altered = json.loads(original)
    altered["tables"]["registry_center"] += 1
    manifest_file.write_text(json.dumps(altered))
    differs = manage(fresh_database, "restore", str(backed_up), "--verify-only")
    assert differs.returncode == 1
    assert "registry_followup has 2 rows, the backup 3" in differs.stderr
    assert "registry_center has 1 rows, the backup 2" in differs.stderr
    assert "the trail's chain registry_historicalfollowup ends at seq 4" in differs.stderr
    assert "analysis os_after_second_line (run" in differs.stderr and "the data gives fingerprint" in differs.stderr

    manifest_file.write_text(original)
    forced = manage(fresh_database, "restore", str(backed_up), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "Verified:" in forced.stdout


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the refusal is SQLite's; PostgreSQL backs up")
def test_on_sqlite_both_commands_refuse(tmp_path):
    with pytest.raises(CommandError, match="Backups are for PostgreSQL"):
        call_command("backup", str(tmp_path / "registry.dump"))
    with pytest.raises(CommandError, match="Backups are for PostgreSQL"):
        call_command("restore", str(tmp_path / "registry.dump"))
    assert not (tmp_path / "registry.dump").exists()
