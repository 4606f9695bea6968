"""Backups of the registry's PostgreSQL database, and restores that prove they are whole.

A backup is a ``pg_dump --format=custom`` file and, beside it, a JSON manifest describing the
same moment: the row count of every table of the schema, the head of each hash chain of the
audit trail (``registry.trail``) and the fingerprints of the latest successful analysis runs.
Dump and manifest are taken from one snapshot: a REPEATABLE READ transaction exports it, pg_dump
reads it (``--snapshot``) while that transaction counts, verifies and fingerprints, so the two
agree even while people keep entering data.

A restore (``pg_restore``) is only trusted once :func:`verify` finds the restored database equal
to the manifest: the same tables and row counts, an intact trail ending in the same heads, and
the data of every recorded run giving the same fingerprint again. Tables are discovered from the
schema, never listed here, so a new app's tables are counted without a change to this module.

Everything works on the default database, the one ``DATABASE_URL`` names: the analysis code
that rebuilds the frames reads from it. ``analysis`` is imported inside the functions, as in
``health.py``: operations look at the analyses, the registry core never depends on them.
"""

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext as _
from psycopg.conninfo import make_conninfo

from registry import trail
from registry.models import DataRevision

FORMAT = "mll-registry-backup/1"
# Connection options Django passes through that pg_dump and pg_restore understand too.
LIBPQ_OPTIONS = {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options", "application_name"}


class BackupError(Exception):
    """The backup or restore could not be made, or the restored database differs from its manifest."""


@dataclass
class Verification:
    """What :func:`verify` compared, and every difference it found (empty: the restore is whole)."""

    differences: list = field(default_factory=list)
    tables: int = 0
    rows: int = 0
    chains: int = 0
    fingerprints: int = 0

    @property
    def ok(self):
        return not self.differences

    def summary(self):
        if not self.ok:
            return _("The restored database differs from the backup: %(differences)s") % {
                "differences": "; ".join(self.differences)
            }
        return _(
            "Verified: %(tables)d tables with the backup's row counts (%(rows)d rows); the audit trail is intact "
            "and its %(chains)d chains end in the backup's heads; %(fingerprints)d analysis runs' data give "
            "their recorded fingerprints."
        ) % {"tables": self.tables, "rows": self.rows, "chains": self.chains, "fingerprints": self.fingerprints}


def require_postgresql():
    if connection.vendor != "postgresql":
        raise BackupError(
            _(
                "Backups are for PostgreSQL; this database is %(vendor)s (the embedded demo). "
                "Set DATABASE_URL to the registry's PostgreSQL database."
            )
            % {"vendor": connection.display_name}
        )


def default_path():
    """``backups/registry-<UTC time>.dump`` in the project directory."""
    return Path(settings.BASE_DIR) / "backups" / f"registry-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.dump"


def manifest_path(dump_path):
    """The manifest lies beside the dump: the same name ending in ``.json``."""
    return Path(dump_path).with_suffix(".json")


def _client():
    """(libpq connection string without the password, environment with it) for pg_dump / pg_restore."""
    s = connection.settings_dict
    params = {"dbname": s["NAME"], "host": s["HOST"], "port": s["PORT"], "user": s["USER"]}
    params.update({key: value for key, value in s["OPTIONS"].items() if key in LIBPQ_OPTIONS})
    env = dict(os.environ)
    if s["PASSWORD"]:
        env["PGPASSWORD"] = str(s["PASSWORD"])  # never on the command line, where ps shows it
    return make_conninfo(**{key: str(value) for key, value in params.items() if value not in (None, "")}), env


def _run(program, args, env):
    if shutil.which(program) is None:
        raise BackupError(_("%(program)s is not installed (Debian: postgresql-client).") % {"program": program})
    done = subprocess.run([program, *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise BackupError(
            _("%(program)s failed (exit %(code)d): %(error)s")
            % {"program": program, "code": done.returncode, "error": done.stderr.strip()[-2000:]}
        )


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tables():
    """Every table of the connection's schema, sorted: whatever apps exist (discovered, never listed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        return [name for (name,) in cursor.fetchall()]


def row_counts():
    quote = connection.ops.quote_name
    counts = {}
    with connection.cursor() as cursor:
        for table in tables():
            cursor.execute(f"SELECT count(*) FROM {quote(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def _latest_runs():
    """The newest successful run per analysis, parameters and data cut, as the reports read them."""
    from analysis.analyses import ANALYSES
    from analysis.models import AnalysisRun

    latest = {}
    succeeded = AnalysisRun.objects.filter(status=AnalysisRun.Status.SUCCEEDED, name__in=list(ANALYSES))
    succeeded = succeeded.order_by("-finished_at", "-pk")
    for run in succeeded.only("pk", "name", "parameters", "data_cut", "fingerprint", "data_revision"):
        latest.setdefault((run.name, json.dumps(run.parameters, sort_keys=True), run.data_cut_id), run)
    # Runs on the same patients one after another: the course frame is built once for them.
    return sorted(latest.values(), key=lambda run: (run.data_cut_id or 0, json.dumps(run.parameters), run.name))


def data_fingerprint(run):
    """The fingerprint of the data ``run`` reads now (``analysis.runs.data_fingerprint``)."""
    from analysis import runs

    return runs.data_fingerprint(run)


def _fingerprints():
    return [
        {
            "run": run.pk,
            "analysis": run.name,
            "parameters": run.parameters,
            "data_cut": run.data_cut_id,
            "data_revision": run.data_revision,
            "fingerprint": run.fingerprint,
            "data_fingerprint": data_fingerprint(run),
        }
        for run in _latest_runs()
    ]


def backup(path=None):
    """Dump the database to ``path`` (default :func:`default_path`) and write its manifest beside it.

    Returns (the dump's path, the manifest).
    """
    require_postgresql()
    if connection.in_atomic_block:
        raise BackupError(_("A backup needs its own transaction; it cannot run inside another one."))
    path = Path(path or default_path())
    manifest_file = manifest_path(path)
    if path.suffix == ".json":
        raise BackupError(_("The dump's file name must not end in .json: that is its manifest's name."))
    for existing in (path, manifest_file):
        if existing.exists():
            raise BackupError(_("%(path)s exists already; choose another file.") % {"path": existing})
    path.parent.mkdir(parents=True, exist_ok=True)
    conninfo, env = _client()
    partial = path.with_name(path.name + ".partial")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot(), current_database(), current_setting('server_version')")
            snapshot, database, server_version = cursor.fetchone()
            _run("pg_dump", ["--format=custom", f"--snapshot={snapshot}", f"--file={partial}", conninfo], env)
            manifest = {
                "format": FORMAT,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "database": database,
                "server_version": server_version,
                "data_revision": DataRevision.current().revision,
                "tables": row_counts(),
                "analysis_runs": _fingerprints(),
            }
            checked = trail.verify()
            manifest["trail"] = {"intact": checked.ok, "summary": checked.summary(), "heads": checked.heads}
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    manifest.update(dump=path.name, dump_bytes=path.stat().st_size, dump_sha256=_sha256(path))
    manifest_file.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path, manifest


def read_manifest(path):
    manifest_file = manifest_path(path)
    if not Path(path).is_file():
        raise BackupError(_("No dump at %(path)s.") % {"path": path})
    if not manifest_file.is_file():
        raise BackupError(_("No manifest beside the dump (%(path)s); it cannot be verified.") % {"path": manifest_file})
    manifest = json.loads(manifest_file.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(_("%(path)s is not a registry backup manifest.") % {"path": manifest_file})
    return manifest


def restore(path, *, force=False):
    """Restore the dump at ``path`` into this process's database (``DATABASE_URL``) and :func:`verify` it.

    The database must be empty (no table in its schema) unless ``force``: then the dump's objects
    replace the ones of the same name (``pg_restore --clean``). One transaction: a failed restore
    leaves the database as it was. Owners and grants are not restored: the restoring role owns
    everything, and ``grant_app_role`` gives the application role its rights again.
    """
    require_postgresql()
    manifest = read_manifest(path)
    if _sha256(path) != manifest["dump_sha256"]:
        raise BackupError(_("%(path)s is not the file its manifest describes (checksum differs).") % {"path": path})
    present = tables()
    if present and not force:
        raise BackupError(
            _(
                "The database %(name)s is not empty (%(count)d tables); a restore would overwrite it. "
                "Restore into an empty database, or say so explicitly (FORCE=1, --force)."
            )
            % {"name": connection.settings_dict["NAME"], "count": len(present)}
        )
    conninfo, env = _client()
    args = ["--single-transaction", "--no-owner", "--no-privileges", f"--dbname={conninfo}"]
    if present:
        args += ["--clean", "--if-exists"]
    connection.close()
    _run("pg_restore", [*args, str(path)], env)
    return verify(manifest)


def verify(manifest):
    """Compare this process's database with ``manifest``; every difference named in the result.

    Nothing is written: counting comes first and the trail is checked without storing a check.
    """
    require_postgresql()
    result = Verification()
    counts = row_counts()
    expected = manifest["tables"]
    result.tables, result.rows = len(counts), sum(counts.values())
    for table in sorted(set(expected) | set(counts)):
        if table not in counts:
            result.differences.append(_("table %(table)s is missing") % {"table": table})
        elif table not in expected:
            result.differences.append(_("table %(table)s is not in the backup") % {"table": table})
        elif counts[table] != expected[table]:
            result.differences.append(
                _("%(table)s has %(found)d rows, the backup %(expected)d")
                % {"table": table, "found": counts[table], "expected": expected[table]}
            )
    result.differences += _trail_differences(manifest["trail"]["heads"])
    result.chains = len(manifest["trail"]["heads"])
    result.differences += _fingerprint_differences(manifest["analysis_runs"])
    result.fingerprints = len(manifest["analysis_runs"])
    return result


def _trail_differences(heads):
    checked = trail.verify(anchors=heads)
    differences = [_("audit trail: %(finding)s") % {"finding": finding} for finding in checked.findings]
    for table in sorted(set(heads) | set(checked.heads)):
        found, expected = checked.heads.get(table), heads.get(table)
        if found != expected:
            differences.append(
                _("the trail's chain %(table)s ends at %(found)s, the backup's at %(expected)s")
                % {"table": table, "found": _head(found), "expected": _head(expected)}
            )
    return differences


def _head(head):
    return "-" if not head else f"seq {head[0]} ({head[1][:12]})"


def _fingerprint_differences(recorded):
    from analysis.models import AnalysisRun

    differences = []
    runs_by_pk = AnalysisRun.objects.only("pk", "name", "parameters", "data_cut", "fingerprint").in_bulk(
        [entry["run"] for entry in recorded]
    )
    for entry in recorded:
        label = _("analysis %(name)s (run %(run)d, parameters %(parameters)s)") % {
            "name": entry["analysis"],
            "run": entry["run"],
            "parameters": json.dumps(entry["parameters"], sort_keys=True),
        }
        run = runs_by_pk.get(entry["run"])
        if run is None:
            differences.append(_("%(label)s is missing") % {"label": label})
            continue
        if run.fingerprint != entry["fingerprint"]:
            differences.append(_("%(label)s has another stored fingerprint") % {"label": label})
        try:
            found = data_fingerprint(run)
        except Exception as error:  # e.g. a backup of an older schema than this code's: say so, exit 1
            differences.append(
                _("%(label)s: its data could not be read (%(error)s)") % {"label": label, "error": error}
            )
            continue
        if found != entry["data_fingerprint"]:
            differences.append(
                _("%(label)s: the data gives fingerprint %(found)s, the backup's %(expected)s")
                % {"label": label, "found": found[:12], "expected": entry["data_fingerprint"][:12]}
            )
    return differences
