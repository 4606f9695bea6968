"""manage.py seed_demo and registry.demo: the paper's counts, determinism, users, validity."""

from io import StringIO
from statistics import median

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry import course
from registry.choices import Role
from registry.demo import cohort as demo
from registry.demo import seeding
from registry.models import CLINICAL_MODELS, FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant
from registry.security import twofactor
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

DAYS_PER_MONTH = 365.25 / 12


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(*args):
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def seeded():
    return seed()


def courses_from_db():
    """Per patient: first recurrence, salvage lines, transplants and the final follow-up."""
    result = {}
    for patient in Patient.objects.prefetch_related(
        "relapses", "salvage_lines", "transplants", "follow_ups"
    ).select_related("first_line_response"):
        first_line = patient.first_line_response
        relapses = sorted(r.relapse_date for r in patient.relapses.all())
        failure = first_line.assessment_date if first_line.outcome == "INDUCTION_FAILURE" else None
        result[patient.study_id] = {
            "patient": patient,
            "cr1": first_line.assessment_date if first_line.outcome == "CR" else None,
            "relapse": relapses[0] if relapses else None,
            "recurrence": relapses[0] if relapses else failure,
            "salvage": sorted(patient.salvage_lines.all(), key=lambda s: s.start_date),
            "transplants": list(patient.transplants.all()),
            "last": max(patient.follow_ups.all(), key=lambda f: f.contact_date),
        }
    return result


def test_default_cohort_has_the_papers_counts(seeded):
    courses = courses_from_db()
    assert len(courses) == Patient.objects.count() == 80
    assert Relapse.objects.count() == sum(1 for c in courses.values() if c["relapse"]) == 34
    assert FirstLineResponse.objects.filter(outcome="INDUCTION_FAILURE").count() == 5
    recurrent = [c for c in courses.values() if c["recurrence"]]
    assert len(recurrent) == 39
    assert all(c["salvage"] and c["salvage"][0].start_date >= c["recurrence"] for c in recurrent)
    assert SalvageLine.objects.exclude(patient__in=[c["patient"] for c in recurrent]).count() == 0

    evaluable = [c for c in recurrent if any(s.response != "NE" for s in c["salvage"])]
    remission = [c for c in evaluable if any(s.response == "CR" for s in c["salvage"])]
    assert (len(remission), len(evaluable)) == (15, 37)

    after = [t for c in recurrent for t in c["transplants"] if t.transplant_date >= c["recurrence"]]
    assert len(after) == 23
    statuses = [t.disease_status for t in after]
    assert (statuses.count("CR2+"), statuses.count("NOT_CR"), statuses.count("UNKNOWN")) == (9, 12, 2)
    assert Transplant.objects.filter(disease_status="CR1").count() == Transplant.objects.count() - 23


def test_default_cohort_has_the_papers_shape(seeded):
    courses = courses_from_db()
    months = [(c["relapse"] - c["cr1"]).days / DAYS_PER_MONTH for c in courses.values() if c["relapse"]]
    assert 4.5 <= median(months) <= 5.5
    assert min(months) < 1 and 27 <= max(months) <= 28.0

    # 5-year OS after second-line therapy: 10 of 39 alive at 5 years, nobody censored before.
    recurrent = [c for c in courses.values() if c["recurrence"]]
    alive_at_5y = 0
    for c in recurrent:
        years = ((c["last"].death_date or c["last"].contact_date) - c["salvage"][0].start_date).days / 365.25
        if c["last"].vital_status == "DEAD":
            assert years < 5
        else:
            assert years >= 5
            alive_at_5y += 1
    assert alive_at_5y == 10  # 10/39 = 25.6%

    never_recurrent = [c for c in courses.values() if not c["recurrence"]]
    deaths_in_cr = [c["last"] for c in never_recurrent if c["last"].vital_status == "DEAD"]
    assert len(deaths_in_cr) == 5
    assert {d.cause_of_death for d in deaths_in_cr} <= {"INFECTION", "GVHD", "ORGAN_TOXICITY", "OTHER"}

    patients = [c["patient"] for c in courses.values()]
    assert all(p.age_at_diagnosis_days < 365 for p in patients)
    assert all(1995 <= p.registration_date.year <= 2001 for p in patients)
    assert {p.trial.code for p in patients} == {"MLL96", "MLL98"}
    assert 8 <= len({p.center_id for p in patients}) <= 12
    assert 30 <= sum(p.mll_partner == "AF4" for p in patients) <= 50
    survivors_years = sorted(
        (c["last"].contact_date - c["patient"].diagnosis_date).days / 365.25
        for c in courses.values()
        if c["last"].vital_status == "ALIVE"
    )
    assert 4.5 <= median(survivors_years) <= 6.5


def test_every_record_passes_full_validation(seeded):
    for model in CLINICAL_MODELS:
        for record in model.objects.all():
            record.full_clean()


def test_demo_users_have_their_roles_and_the_demo_password(seeded):
    assert f"password: {demo.DEMO_PASSWORD}" in seeded
    users = {u.username: u for u in get_user_model().objects.select_related("membership__center")}
    assert set(users) == {"coordinator", "coordinator2", "investigator", "datamanager", "admin"}
    assert all(u.check_password(demo.DEMO_PASSWORD) for u in users.values())
    roles = {name: (u.membership.role, u.is_staff, u.is_superuser) for name, u in users.items()}
    assert roles == {
        "coordinator": (Role.COORDINATOR, False, False),
        "coordinator2": (Role.COORDINATOR, False, False),
        "investigator": (Role.INVESTIGATOR, False, False),
        "datamanager": (Role.DATA_MANAGER, False, False),
        "admin": (Role.ADMIN, True, True),
    }
    first, second = users["coordinator"].membership.center, users["coordinator2"].membership.center
    assert first != second
    assert Patient.objects.filter(center=first).exists() and Patient.objects.filter(center=second).exists()
    assert users["investigator"].membership.center is None
    assert Patient.objects.for_user(users["coordinator"]).count() == Patient.objects.filter(center=first).count()


def test_demo_admin_and_data_manager_have_the_documented_authenticator(seeded):
    assert seeding.DEMO_TOTP_SECRET in seeded
    devices = TOTPDevice.objects.filter(confirmed=True).select_related("user")
    assert sorted(d.user.username for d in devices) == ["admin", "datamanager"]
    assert {twofactor.secret(d) for d in devices} == {seeding.DEMO_TOTP_SECRET}


def snapshot():
    return {
        "patients": list(
            Patient.objects.order_by("study_id").values_list(
                "study_id", "center__code", "trial__code", "date_of_birth", "diagnosis_date", "registration_date", "wbc"
            )
        ),
        "relapses": list(
            Relapse.objects.order_by("patient__study_id").values_list("patient__study_id", "relapse_date", "site")
        ),
        "salvage": list(
            SalvageLine.objects.order_by("patient__study_id", "start_date").values_list(
                "patient__study_id", "start_date", "response", "response_date"
            )
        ),
        "transplants": list(
            Transplant.objects.order_by("patient__study_id", "transplant_date").values_list(
                "patient__study_id", "transplant_date", "donor", "disease_status"
            )
        ),
        "follow_ups": list(
            FollowUp.objects.order_by("patient__study_id", "contact_date").values_list(
                "patient__study_id", "contact_date", "vital_status", "death_date"
            )
        ),
    }


def run_and_roll_back(*args):
    with transaction.atomic():
        seed(*args)
        taken = snapshot()
        transaction.set_rollback(True)
    assert not Patient.objects.exists()
    return taken


def test_same_seed_gives_the_same_cohort():
    first = run_and_roll_back("--patients", "25", "--seed", "7")
    second = run_and_roll_back("--patients", "25", "--seed", "7")
    assert first == second
    assert len(first["patients"]) == 25 and first["relapses"]
    assert run_and_roll_back("--patients", "25", "--seed", "8") != first


def test_bulk_path_writes_the_same_rows_as_the_validated_path():
    validated = run_and_roll_back("--patients", "30", "--seed", "5")
    bulk = run_and_roll_back("--patients", "30", "--seed", "5", "--bulk")
    assert validated == bulk
    seed("--patients", "30", "--seed", "5", "--bulk")
    for model in CLINICAL_MODELS:
        assert (
            model.history.filter(history_change_reason=demo.REASON, audit_source=demo.SOURCE).count()
            == model.objects.count()
        )


def test_generator_is_deterministic_and_keeps_the_proportions():
    assert demo.generate_cohort(40, seed=3) == demo.generate_cohort(40, seed=3)
    assert demo.generate_cohort(40, seed=3) != demo.generate_cohort(40, seed=4)


def test_a_larger_cohort_keeps_the_papers_proportions():
    call_command("seed_demo", "--patients", "800", "--seed", "1", stdout=StringIO())
    counts = course.counts(course.course_frame())
    assert (counts["n_relapsed"], counts["n_induction_failure"]) == (340, 50)
    assert (counts["n_salvage_remission"], counts["n_salvage_evaluable"]) == (150, 370)
    assert (counts["n_hsct_in_remission"], counts["n_hsct_not_in_remission"], counts["n_hsct_unknown"]) == (90, 120, 20)


def test_second_run_does_nothing(seeded):
    before = Patient.history.count()
    assert "already exists" in seed()
    assert Patient.history.count() == before == 80


def test_refuses_a_registry_with_other_patients(center):
    PatientFactory(center=center)
    with pytest.raises(CommandError, match="already holds 1 patients"):
        seed("--patients", "5")
    assert Patient.objects.count() == 1
    assert not get_user_model().objects.filter(username="coordinator").exists()
