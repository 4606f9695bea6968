"""Run outcome analyses synchronously, for scripts and cron:
``manage.py run_analyses [--name NAME ...] [--cut NAME]`` (``--cut``: on a data cut's frozen copy of the data)."""

from django.core.management.base import BaseCommand, CommandError

from analysis import runs
from analysis.models import AnalysisRun
from registry.cuts.models import DataCut


class Command(BaseCommand):
    help = "Run outcome analyses now, in this process, and store the runs."

    def add_arguments(self, parser):
        parser.add_argument(
            "--name", action="append", choices=sorted(runs.ANALYSES), help="Analysis to run (repeatable; default: all)."
        )
        parser.add_argument("--cut", help="Run on this data cut's state of the data (default: the live data).")

    def handle(self, *args, name=None, cut=None, **options):
        if cut is not None:
            cut = DataCut.objects.filter(name=cut).select_related("trial").first() or _unknown_cut(cut)
            self.stdout.write(f"At data cut {cut.name!r} (fingerprint {cut.fingerprint[:12]})")
        failed = []
        for analysis in name or list(runs.ANALYSES):
            run = AnalysisRun.objects.create(name=analysis, trigger=AnalysisRun.Trigger.COMMAND, data_cut=cut)
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


def _unknown_cut(name):
    known = ", ".join(DataCut.objects.order_by("name").values_list("name", flat=True)) or "none yet"
    raise CommandError(f"No data cut named {name!r}; known: {known}.")
