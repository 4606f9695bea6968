"""``manage.py grant_app_role <role>``: least privilege for the application's database role.

Run as the owner of the tables (the role that runs ``migrate``), after every ``migrate``. The
application role gets read and write on the registry's tables but only read and append on
the audit trail; owning nothing, it cannot TRUNCATE, ALTER (disable triggers) or DROP them.
"""

from django.core.management.base import BaseCommand, CommandError

from registry import trail


class Command(BaseCommand):
    help = "Grant the application's database role what it needs: read/append only on the audit trail (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("role", help="the database role the application connects as, e.g. registry_app")
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args, role, database, **options):
        if not trail.supported(database):
            raise CommandError("Database roles are a PostgreSQL feature; nothing to grant on this database.")
        tables = trail.grant_app_role(role, database)
        self.stdout.write(f"Granted {role} access to {len(tables)} tables; the audit trail is read and append only.")
