"""``manage.py create_data_cut NAME [--trial MLL98] [--reason TEXT]``: freeze the study or one trial."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry.cuts import services


class Command(BaseCommand):
    help = (
        "Create a named data cut: freeze every record of the study (or of one trial) and keep a copy for the analyses."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help='The cut\'s name, e.g. "MLL98 final analysis 2026-12-01".')
        parser.add_argument("--trial", help="Freeze one trial (MLL96 or MLL98); default: the whole study.")
        parser.add_argument("--reason", default="", help="The cut's purpose, kept in the audit trail.")

    def handle(self, *args, name, trial=None, reason="", **options):
        try:
            cut = services.create_cut(
                user=None, name=name, trial=trial, reason=reason, source="command:create_data_cut"
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(
            f"Data cut {cut.name!r} ({cut.scope_label}): {cut.n_patients} patients frozen, "
            f"fingerprint {cut.fingerprint}"
        )
