"""``manage.py seed_demo``: a synthetic MLL96/MLL98 cohort and one demo user per role.

The cohort comes from ``registry.cohort.cohort`` (deterministic for a seed). Up to BULK_THRESHOLD
patients every record goes through ``services.save_record``; above it the records are
validated without database round trips by ``services.save_courses`` and written with PostgreSQL
``COPY`` (``registry.bulk_copy``; a history row per record from the trail's triggers).
"""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry import course
from registry.demo import cohort, seeding
from registry.models import Patient

BULK_THRESHOLD = 2000


class Command(BaseCommand):
    help = "Create a synthetic demo cohort shaped like the MLL96/MLL98 paper, and demo users (empty registry only)."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=cohort.DEFAULT_PATIENTS, help="cohort size (default 80)")
        parser.add_argument("--seed", type=int, default=cohort.DEFAULT_SEED, help="random seed (same seed, same data)")
        parser.add_argument(
            "--bulk",
            action="store_true",
            help=f"the bulk path (checked in memory, COPY) for small cohorts too (automatic above {BULK_THRESHOLD})",
        )

    def handle(self, *, patients, seed, bulk, **options):
        if patients < 1:
            raise CommandError("--patients must be at least 1.")
        if Patient.history.filter(audit_source=cohort.SOURCE).exists():
            self.stdout.write("Demo data already exists; nothing done.")
            return
        if Patient.objects.exists():
            raise CommandError(
                f"The registry already holds {Patient.objects.count()} patients; "
                "seed_demo only fills an empty registry."
            )
        taken = get_user_model().objects.filter(username__in=[name for name, *_ in seeding.DEMO_USERS])
        if taken.exists():
            names = ", ".join(taken.values_list("username", flat=True))
            raise CommandError(f"User(s) {names} already exist; seed_demo creates its own demo users.")

        started = time.monotonic()
        courses = cohort.generate_cohort(patients, seed)
        generated = time.monotonic()
        bulk = bulk or patients > BULK_THRESHOLD
        with transaction.atomic():
            centers = seeding.ensure_centers()
            trials = seeding.trials_by_code()
            if bulk:
                seeding.write_bulk(courses, centers, trials, progress=self._progress if patients >= 10000 else None)
            else:
                seeding.write_validated(courses, centers, trials)
            users = seeding.create_demo_users(courses, centers)
            # Queries and verification marks for the pages; at benchmark sizes the rules run apart.
            n_queries = None if bulk else seeding.seed_queries(users)
        finished = time.monotonic()

        # The counts as the registry derives them from what was stored (registry.course).
        counts = course.counts(course.course_frame())
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {counts['n_registered']} synthetic patients (seed {seed}, "
                f"{'bulk path' if bulk else 'record by record'}, full validation) in {finished - started:.1f} s "
                f"(generation {generated - started:.1f} s)."
            )
        )
        self.stdout.write(
            f"  {counts['n_relapsed']} relapses after CR1, {counts['n_induction_failure']} induction failures; "
            f"salvage remission {counts['n_salvage_remission']}/{counts['n_salvage_evaluable']} evaluable; "
            f"{counts['n_hsct_after_recurrence']} HSCT after recurrence ({counts['n_hsct_in_remission']} in "
            f"remission, {counts['n_hsct_not_in_remission']} not in remission, {counts['n_hsct_unknown']} unknown); "
            f"{counts['n_dead']} deaths."
        )
        if n_queries is not None:
            self.stdout.write(f"  {n_queries} data queries (rules and a data manager's), some records verified.")
        self.stdout.write(f"Demo users (password: {cohort.DEMO_PASSWORD}):")
        for user, role, center in users:
            where = f" at {center.code} {center.name}" if center else ""
            self.stdout.write(f"  {user.username:<14} {role.label}{where}")
        self.stdout.write(
            f"Admin and data manager sign in with a second factor: add the secret {seeding.DEMO_TOTP_SECRET} "
            f"to an authenticator app, or run `oathtool --totp -b {seeding.DEMO_TOTP_SECRET}` "
            "(or start the server with REGISTRY_REQUIRE_2FA=0 to skip it)."
        )

    def _progress(self, done, total):
        self.stdout.write(f"  {done}/{total} patients written")
