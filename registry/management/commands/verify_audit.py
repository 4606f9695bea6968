"""``manage.py verify_audit``: recompute the audit trail's hash chains (PostgreSQL).

Exit 0 with a one-line summary when every chain is intact and every clinical record matches
its latest history row; exit 1 naming the table and row of the first broken, edited or
missing link otherwise. The result is stored (``AuditCheck``) and shown on the audit page.
"""

from django.core.management.base import BaseCommand, CommandError

from registry import trail


class Command(BaseCommand):
    help = "Verify the hash-chained audit trail; exit 1 naming the first broken, edited or missing link."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args, database, **options):
        if not trail.supported(database):
            self.stdout.write(str(trail.NOT_SUPPORTED))
            return
        check = trail.run_check(database)
        if not check.ok:
            raise CommandError(check.message, returncode=1)
        self.stdout.write(check.message)
