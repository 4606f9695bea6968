"""``manage.py backup [PATH]``: pg_dump (custom format) of the registry and its manifest (PostgreSQL).

The logic is in ``registry.ops.backup``; ``make backup`` calls this.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from registry.ops import backup


class Command(BaseCommand):
    help = "Dump the PostgreSQL database (pg_dump --format=custom) with a manifest to verify a restore by."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="the dump file (default: backups/registry-<UTC time>.dump)")

    def handle(self, *args, path, **options):
        try:
            dump, manifest = backup.backup(path)
        except backup.BackupError as error:
            raise CommandError(str(error), returncode=1) from None
        self.stdout.write(
            _(
                "Backed up %(database)s: %(tables)d tables, %(rows)d rows, %(runs)d analysis fingerprints; "
                "%(trail)s\nDump: %(dump)s (%(bytes)d bytes)\nManifest: %(manifest)s"
            )
            % {
                "database": manifest["database"],
                "tables": len(manifest["tables"]),
                "rows": sum(manifest["tables"].values()),
                "runs": len(manifest["analysis_runs"]),
                "trail": manifest["trail"]["summary"],
                "dump": dump,
                "bytes": manifest["dump_bytes"],
                "manifest": backup.manifest_path(dump),
            }
        )
        if not manifest["trail"]["intact"]:
            self.stderr.write(_("Warning: the audit trail was already broken when this backup was taken."))
