"""``manage.py run_quality_checks``: run the data-quality rules now (they also run nightly)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from registry.queries import services
from registry.queries.rules import RULES


class Command(BaseCommand):
    help = "Run every data-quality rule: raise their queries, close those the data no longer trigger."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="the day the rules measure from, YYYY-MM-DD (default: today, UTC)")
        parser.add_argument("--rule", action="append", help="run only this rule (repeatable)")

    def handle(self, *, as_of, rule, **options):
        try:
            day = date.fromisoformat(as_of) if as_of else None
        except ValueError:
            raise CommandError(f"--as-of must be a date like 2026-01-31, got {as_of!r}") from None
        chosen = RULES
        if rule:
            unknown = sorted(set(rule) - {r.code for r in RULES})
            if unknown:
                raise CommandError(f"Unknown rule(s) {', '.join(unknown)}; known: {', '.join(r.code for r in RULES)}")
            chosen = [r for r in RULES if r.code in rule]
        summary = services.run_quality_checks(as_of=day, source="command:run_quality_checks", rules=chosen)
        for code, counts in summary.items():
            self.stdout.write(
                f"{code:<28} found {counts['found']:>6}  raised {counts['raised']:>6}  "
                f"reopened {counts['reopened']:>5}  closed {counts['closed']:>5}"
            )
