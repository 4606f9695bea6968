"""``manage.py makemessages -l ja``: Django's command with the registry's defaults.

It reads only the code that users see (not the tests, the docs, the standalone reproduce.py
shipped in the reproducibility package, or build output), keeps file names but not line numbers
in the catalogue so that a moved line does not rewrite it, and drops obsolete entries. Needs GNU
gettext (xgettext, msgmerge); compiling the catalogue does not (``compile_translations``).
"""

from django.core.management.commands import makemessages

IGNORED = ["tests", "docs", "staticfiles", "test-artifacts", "backups", "var", "analysis/reproduce", "db.sqlite3"]


class Command(makemessages.Command):
    def handle(self, *args, **options):
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *IGNORED]
        options["add_location"] = options.get("add_location") or "file"
        options["no_obsolete"] = True
        return super().handle(*args, **options)
