"""Seeding the demo cohort into the registry: rows from the generator's dicts, written through
the services (record by record, or the bulk path), and one demo user per role."""

import base64

from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from .. import chronology
from ..access import must_use_second_factor
from ..audit import audit_context
from ..choices import Role
from ..models import Center, FirstLineResponse, FollowUp, Membership, Patient, Relapse, SalvageLine, Transplant, Trial
from ..services import CoursesInvalid, CourseWrite, save_courses, save_record
from .cohort import CENTERS, DEMO_PASSWORD, REASON, SOURCE, TRIALS

# --- From dicts to rows ---------------------------------------------------------------------


def build_course(course, centers, trials):
    """Unsaved model instances for one course: ``(patient, [first line, relapses, ..., follow-ups])``.

    ``centers`` and ``trials`` map codes to saved ``Center`` and ``Trial`` rows.
    """

    fields = dict(course["patient"])
    patient = Patient(center=centers[fields.pop("center")], trial=trials[fields.pop("trial")], **fields)
    records = [FirstLineResponse(patient=patient, **course["first_line"])]
    records += [Relapse(patient=patient, **r) for r in course["relapses"]]
    records += [SalvageLine(patient=patient, **s) for s in course["salvage_lines"]]
    records += [Transplant(patient=patient, **t) for t in course["transplants"]]
    # The latest contact first: the chronology refuses events after the last recorded contact.
    records += [FollowUp(patient=patient, **f) for f in reversed(course["follow_ups"])]
    return patient, records


def ensure_centers():
    """The demo centers, created if missing, by code."""

    for code, name, _ in CENTERS:
        Center.objects.get_or_create(code=code, defaults={"name": name})
    return {c.code: c for c in Center.objects.filter(code__in=[code for code, _, _ in CENTERS])}


def trials_by_code():
    """The two trials by code (created by a data migration; recreated if a test flushed them)."""

    return {
        code: Trial.objects.get_or_create(
            code=code, defaults={"name": code, "registration_opened": start, "registration_closed": end}
        )[0]
        for code, start, end in TRIALS
    }


def write_validated(courses, centers, trials):
    """Save every record through ``services.save_record`` (full validation and audit), as the system."""

    with audit_context(user=None, reason=REASON, source=SOURCE):
        for course in courses:
            patient, records = build_course(course, centers, trials)
            save_record(user=None, record=patient, source=SOURCE)
            for record in records:
                record.patient = patient
                save_record(user=None, record=record, source=SOURCE)


class DemoDataInvalid(ValueError):
    pass


def write_bulk(courses, centers, trials, *, batch_size=2000, progress=None):
    """Write the cohort through ``services.save_courses`` in batches: the same rules as the
    pages, checked in memory, then written by PostgreSQL ``COPY`` (``registry.bulk_copy``; the
    trail's triggers write a history row per record) or, on SQLite, audited bulk inserts."""

    with audit_context(user=None, reason=REASON, source=SOURCE):
        for begin in range(0, len(courses), batch_size):
            writes = []
            for course in courses[begin : begin + batch_size]:
                patient, records = build_course(course, centers, trials)
                writes.append(CourseWrite(chronology.course_of(patient, records), [patient, *records]))
            try:
                save_courses(user=None, writes=writes, source=SOURCE)
            except CoursesInvalid as invalid:
                first = invalid.problems[0]
                where = f"{first.record.audit_study_id()}: {type(first.record).__name__}.{first.field}"
                raise DemoDataInvalid(f"{where}: {first.message}") from invalid
            if progress:
                progress(min(begin + batch_size, len(courses)), len(courses))


# --- Users ----------------------------------------------------------------------------------


DEMO_USERS = [
    # (username, printed name (signatures show it), role, center: 0 = the largest, 1 = the second, None = none)
    ("coordinator", ("Hanako", "Sato"), Role.COORDINATOR, 0),
    ("coordinator2", ("Yuki", "Tanaka"), Role.COORDINATOR, 1),
    ("investigator", ("Kenji", "Suzuki"), Role.INVESTIGATOR, None),
    ("datamanager", ("Akiko", "Watanabe"), Role.DATA_MANAGER, None),
    ("admin", ("Registry", "Administrator"), Role.ADMIN, None),
]


# The demo's authenticator secret (base32), printed by seed_demo and in README: the demo users who
# must use a second factor (admin, data manager) have it, so any TOTP app or `oathtool` signs them
# in. A demo only: real accounts enrol their own secret on the two-factor page.
DEMO_TOTP_SECRET = "MLLDEMOTWOFACTORSECRETFORTHEDEMO"


def create_demo_users(courses, centers):
    """One user per role, password ``DEMO_PASSWORD``; coordinators at the two largest centers.

    Those whose role needs a second factor get an authenticator with ``DEMO_TOTP_SECRET``.
    """

    sizes = {}
    for course in courses:
        sizes[course["patient"]["center"]] = sizes.get(course["patient"]["center"], 0) + 1
    ranked = sorted(centers, key=lambda code: (-sizes.get(code, 0), code))
    user_model = get_user_model()
    created = []
    for username, (first_name, last_name), role, rank in DEMO_USERS:
        center = centers[ranked[rank]] if rank is not None else None
        user = user_model(
            username=username,
            first_name=first_name,
            last_name=last_name,
            is_staff=role == Role.ADMIN,
            is_superuser=role == Role.ADMIN,
        )
        user.set_password(DEMO_PASSWORD)
        user.save()
        Membership.objects.create(user=user, role=role, center=center)
        if must_use_second_factor(user):
            key = base64.b32decode(DEMO_TOTP_SECRET).hex()
            TOTPDevice.objects.create(user=user, name="demo authenticator", key=key, confirmed=True)
        created.append((user, role, center))
    return created


# --- Data queries and source verification -------------------------------------------------------


def seed_queries(users):
    """What the data-management pages show on first start, written through the query services:
    the rules' queries (one answered at each coordinator's center), a data manager's queries on
    relapse dates there (open, answered, closed), and the first patients' registration and
    first-line response verified against source. Returns the number of queries."""
    from ..queries import services as queries
    from ..queries.models import DataQuery

    data_manager = next(user for user, role, _ in users if role == Role.DATA_MANAGER)
    queries.run_quality_checks(source=SOURCE)
    for coordinator, center in [(user, center) for user, role, center in users if role == Role.COORDINATOR]:
        relapses = Relapse.objects.filter(patient__center=center).order_by("patient__study_id", "relapse_date")[:3]
        for step, relapse in enumerate(relapses):
            query = queries.raise_query(
                user=data_manager,
                record_type="relapse",
                record_id=relapse.pk,
                field="relapse_date",
                message="Please check the relapse date against the bone marrow report.",
                source=SOURCE,
            )
            if step >= 1:
                queries.answer_query(
                    user=coordinator, query=query, message="Checked against the marrow report: correct.", source=SOURCE
                )
            if step == 2:
                queries.close_query(user=data_manager, query=query, message="Confirmed, thank you.", source=SOURCE)
        by_rule = DataQuery.objects.filter(patient__center=center).exclude(rule="").order_by("pk").first()
        if by_rule is not None:
            queries.answer_query(
                user=coordinator, query=by_rule, message="Asked the clinic for the source documents.", source=SOURCE
            )
        for patient in Patient.objects.filter(center=center).order_by("study_id")[:3]:
            queries.verify_fields(user=data_manager, record_type="patient", record_id=patient.pk, source=SOURCE)
            first_line = FirstLineResponse.objects.filter(patient=patient).first()
            if first_line is not None:
                queries.verify_fields(
                    user=data_manager, record_type="first_line_response", record_id=first_line.pk, source=SOURCE
                )
    return DataQuery.objects.count()
