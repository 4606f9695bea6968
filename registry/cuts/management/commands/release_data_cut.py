"""``manage.py release_data_cut NAME --reason TEXT``: let the data in a cut's scope be changed again."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry.cuts import services
from registry.cuts.models import DataCut


class Command(BaseCommand):
    help = "Release a data cut with a reason (audited); its copy of the data stays for runs at the cut."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--reason", required=True, help="Why the cut is released; kept in the audit trail.")

    def handle(self, *args, name, reason, **options):
        cut = DataCut.objects.filter(name=name).first()
        if cut is None:
            raise CommandError(f"No data cut named {name!r}.")
        try:
            services.release_cut(user=None, cut=cut, reason=reason, source="command:release_data_cut")
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"Data cut {cut.name!r} released.")
