"""``manage.py compile_translations``: every ``locale/*/LC_MESSAGES/*.po`` into its ``.mo``.

Django's own ``compilemessages`` needs GNU gettext's msgfmt; this needs only Python (polib), so
``make demo`` works on a machine with nothing but Python. The .po files are committed, the .mo
files are not (.gitignore): the Makefile runs this before serving or testing. Fuzzy and empty
entries are left out of the .mo (they show in English), as msgfmt does.
"""

from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _


def compiled(po_path):
    """The bytes of the .mo for the catalogue at ``po_path``."""
    return polib.pofile(str(po_path)).to_binary()


def catalogues():
    """Every .po under the project's LOCALE_PATHS."""
    return sorted(path for base in settings.LOCALE_PATHS for path in Path(base).glob("*/LC_MESSAGES/*.po"))


class Command(BaseCommand):
    help = "Compile the .po catalogues under LOCALE_PATHS into .mo files (pure Python, no msgfmt needed)."

    def handle(self, *args, **options):
        for po_path in catalogues():
            mo_path = po_path.with_suffix(".mo")
            data = compiled(po_path)
            if mo_path.exists() and mo_path.read_bytes() == data:
                continue
            mo_path.write_bytes(data)
            if options["verbosity"] >= 1:
                self.stdout.write(_("Compiled %(po)s") % {"po": po_path.relative_to(settings.BASE_DIR)})
