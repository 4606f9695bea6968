"""Run outcome analyses synchronously, for scripts and cron: ``manage.py run_analyses [--name NAME ...]``."""

from django.core.management.base import BaseCommand, CommandError

from analysis import runs
from analysis.models import AnalysisRun


class Command(BaseCommand):
    help = "Run outcome analyses now, in this process, and store the runs."

    def add_arguments(self, parser):
        parser.add_argument(
            "--name", action="append", choices=sorted(runs.ANALYSES), help="Analysis to run (repeatable; default: all)."
        )

    def handle(self, *args, name=None, **options):
        failed = []
        for analysis in name or list(runs.ANALYSES):
            run = AnalysisRun.objects.create(name=analysis, trigger=AnalysisRun.Trigger.COMMAND)
            run = runs.execute_run(run.pk)
            reused = f" (reused run {run.reused_from_id})" if run.reused_from_id else ""
            self.stdout.write(
                f"{analysis}: {run.status} in {run.duration_seconds:.2f} s, {run.n_patients} patients, "
                f"fingerprint {run.fingerprint[:12]}{reused}"
            )
            if run.status != AnalysisRun.Status.SUCCEEDED:
                failed.append(analysis)
                self.stderr.write(run.error.strip().splitlines()[-1] if run.error else "failed")
        if failed:
            raise CommandError(f"Failed: {', '.join(failed)}")
