"""``manage.py restore PATH [--force] [--verify-only]``: restore a backup and prove it whole (PostgreSQL).

Restores into this process's database (``DATABASE_URL``; ``make restore`` sets it from
``RESTORE_DATABASE_URL``), then compares it with the manifest beside the dump: exit 1 naming every
difference. The logic is in ``registry.ops.backup``.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from registry.ops import backup


class Command(BaseCommand):
    help = "Restore a pg_dump backup into an empty database and verify it against its manifest."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the dump file written by manage.py backup")
        parser.add_argument("--force", action="store_true", help="replace the contents of a non-empty database")
        parser.add_argument(
            "--verify-only", action="store_true", help="restore nothing; compare this database with the manifest"
        )

    def handle(self, *args, path, force, verify_only, **options):
        try:
            if verify_only:
                result = backup.verify(backup.read_manifest(path))
            else:
                result = backup.restore(path, force=force)
                self.stdout.write(_("Restored %(path)s.") % {"path": path})
        except backup.BackupError as error:
            raise CommandError(str(error), returncode=1) from None
        if not result.ok:
            raise CommandError(result.summary(), returncode=1)
        self.stdout.write(result.summary())
