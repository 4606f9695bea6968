"""Single-record rules of registry.models: field-located messages and database constraints."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from registry.models import FollowUp, Patient, SalvageLine, Transplant
from tests.factories import (
    FirstLineResponseFactory,
    FollowUpFactory,
    PatientFactory,
    RelapseFactory,
    SalvageLineFactory,
    TransplantFactory,
    relapsed_course,
)

pytestmark = pytest.mark.django_db


def errors_of(record):
    with pytest.raises(ValidationError) as caught:
        record.full_clean()
    return caught.value.message_dict


def test_age_at_diagnosis_days():
    patient = PatientFactory.build(date_of_birth=date(1996, 1, 10), diagnosis_date=date(1996, 5, 9))
    assert patient.age_at_diagnosis_days == 120
    patient.date_of_birth = None
    assert patient.age_at_diagnosis_days is None


def test_364_days_is_still_an_infant(center):
    patient = PatientFactory.build(center=center, date_of_birth=date(1996, 1, 10))
    patient.diagnosis_date = patient.date_of_birth + timedelta(days=364)
    patient.registration_date = patient.diagnosis_date
    patient.full_clean()


def test_365_days_is_not_an_infant_and_the_error_is_on_the_diagnosis_date(center):
    patient = PatientFactory.build(center=center, date_of_birth=date(1996, 1, 10))
    patient.diagnosis_date = patient.date_of_birth + timedelta(days=365)
    patient.registration_date = patient.diagnosis_date
    errors = errors_of(patient)
    assert list(errors) == ["diagnosis_date"]
    assert "365 days" in errors["diagnosis_date"][0]


@pytest.mark.parametrize("field", ["date_of_birth", "diagnosis_date", "registration_date"])
def test_future_dates_are_refused_on_their_field(center, field):
    tomorrow = date.today() + timedelta(days=1)
    patient = PatientFactory.build(
        center=center, date_of_birth=tomorrow, diagnosis_date=tomorrow, registration_date=tomorrow
    )
    errors = errors_of(patient)
    assert errors[field] == ["This date is in the future."]


def test_future_follow_up_contact_is_refused(center):
    patient = PatientFactory(center=center)
    follow_up = FollowUpFactory.build(patient=patient, contact_date=date.today() + timedelta(days=3))
    assert errors_of(follow_up)["contact_date"] == ["This date is in the future."]


@pytest.mark.parametrize("study_id", ["MLL96-12", "mll96-0012", "Tanaka-0001", "MLL96_0012", "MLL96-0012a", "A-0012"])
def test_malformed_study_ids_are_refused(center, study_id):
    patient = PatientFactory.build(center=center, study_id=study_id)
    assert "study_id" in errors_of(patient)


@pytest.mark.parametrize("study_id", ["MLL96-0012", "MLL98-123", "MLL98-123456"])
def test_well_formed_study_ids_pass(center, study_id):
    PatientFactory.build(center=center, study_id=study_id).full_clean()


def test_study_id_is_unique(center):
    PatientFactory(center=center, study_id="MLL96-0001")
    duplicate = PatientFactory.build(center=center, study_id="MLL96-0001")
    assert errors_of(duplicate)["study_id"] == ["A patient with this study ID is already registered."]


def test_living_patient_has_no_death_date_or_cause(center):
    patient = PatientFactory(center=center)
    follow_up = FollowUpFactory.build(patient=patient, death_date=patient.diagnosis_date, cause_of_death="INFECTION")
    errors = errors_of(follow_up)
    assert errors["death_date"] == ["A living patient has no date of death."]
    assert errors["cause_of_death"] == ["A living patient has no cause of death."]


def test_death_needs_date_and_cause(center):
    patient = PatientFactory(center=center)
    follow_up = FollowUpFactory.build(patient=patient, vital_status="DEAD", death_date=None, cause_of_death="")
    errors = errors_of(follow_up)
    assert errors["death_date"] == ["A death needs its date."]
    assert "cause" in errors["cause_of_death"][0]


def test_death_not_after_contact(center):
    patient = PatientFactory(center=center)
    contact = patient.diagnosis_date + timedelta(days=400)
    follow_up = FollowUpFactory.build(
        patient=patient,
        contact_date=contact,
        vital_status="DEAD",
        death_date=contact + timedelta(days=1),
        cause_of_death="LEUKEMIA",
    )
    assert errors_of(follow_up)["death_date"] == ["The date of death must not be after the date of contact."]


def test_a_recorded_death_is_valid(center):
    patient = PatientFactory(center=center)
    day = patient.diagnosis_date + timedelta(days=400)
    FollowUpFactory.build(
        patient=patient, contact_date=day, vital_status="DEAD", death_date=day, cause_of_death="LEUKEMIA"
    ).full_clean()


@pytest.mark.parametrize(
    ("transplant_type", "donor", "valid"),
    [("ALLO", "UCB", True), ("AUTO", "AUTO", True), ("AUTO", "MSD", False), ("ALLO", "AUTO", False)],
)
def test_transplant_donor_matches_type(center, transplant_type, donor, valid):
    patient = PatientFactory(center=center)
    FirstLineResponseFactory(patient=patient)
    transplant = TransplantFactory.build(
        patient=patient,
        transplant_type=transplant_type,
        donor=donor,
        disease_status="CR1",
        transplant_date=patient.diagnosis_date + timedelta(days=150),
    )
    if valid:
        transplant.full_clean()
    else:
        assert list(errors_of(transplant)) == ["donor"]


def salvage_ready(center):
    patient = PatientFactory(center=center)
    FirstLineResponseFactory(patient=patient)
    RelapseFactory(patient=patient)
    return patient


def test_salvage_remission_needs_its_date(center):
    line = SalvageLineFactory.build(patient=salvage_ready(center), response="CR", response_date=None)
    assert errors_of(line)["response_date"] == ["A complete remission needs its date."]


def test_salvage_response_not_before_start(center):
    line = SalvageLineFactory.build(patient=salvage_ready(center))
    line.response_date = line.start_date - timedelta(days=1)
    assert "must not be before the start" in errors_of(line)["response_date"][0]


def test_salvage_without_response_date_is_fine_when_not_evaluable(center):
    SalvageLineFactory.build(patient=salvage_ready(center), response="NE", response_date=None).full_clean()


def test_wbc_must_be_within_range(center):
    patient = PatientFactory.build(center=center, wbc=Decimal("-1.0"))
    assert "wbc" in errors_of(patient)


# --- The database says the same rules when clean() is bypassed --------------------------------


def insert_refused(record):
    with pytest.raises(IntegrityError), transaction.atomic():
        record.save()


def test_database_refuses_patient_born_after_diagnosis(center):
    patient = PatientFactory.build(center=center, date_of_birth=date(1996, 6, 1), diagnosis_date=date(1996, 5, 1))
    insert_refused(patient)
    assert not Patient.objects.exists()


def test_database_refuses_registration_before_diagnosis(center):
    patient = PatientFactory.build(center=center)
    patient.registration_date = patient.diagnosis_date - timedelta(days=1)
    insert_refused(patient)


def test_database_refuses_duplicate_study_id(center):
    PatientFactory(center=center, study_id="MLL96-0001")
    insert_refused(PatientFactory.build(center=center, study_id="MLL96-0001"))


def test_database_refuses_non_infant_on_postgresql(center, postgres_only):
    patient = PatientFactory.build(center=center, date_of_birth=date(1996, 1, 1))
    patient.diagnosis_date = patient.registration_date = date(1997, 1, 1)
    insert_refused(patient)


def test_database_refuses_bad_transplant_donor(center):
    patient = relapsed_course(center=center)
    transplant = Transplant.objects.get(patient=patient)
    transplant.pk = None
    transplant._state.adding = True
    transplant.transplant_date += timedelta(days=1)
    transplant.transplant_type, transplant.donor = "AUTO", "UCB"
    insert_refused(transplant)


@pytest.mark.parametrize(
    ("response", "offset"),
    [("CR", None), ("PR", -1)],  # remission without a date; response before the start
)
def test_database_refuses_bad_salvage_line(center, response, offset):
    patient = salvage_ready(center)
    start = patient.diagnosis_date + timedelta(days=210)
    line = SalvageLine(
        patient=patient,
        regimen="FLAG",
        agents="fludarabine",
        start_date=start,
        response=response,
        response_date=None if offset is None else start + timedelta(days=offset),
    )
    insert_refused(line)


@pytest.mark.parametrize(
    ("vital_status", "death", "cause"),
    [
        ("DEAD", None, "LEUKEMIA"),
        ("DEAD", 0, ""),
        ("ALIVE", 0, ""),
        ("ALIVE", None, "INFECTION"),
        ("DEAD", 1, "LEUKEMIA"),
    ],
)
def test_database_refuses_inconsistent_death_fields(center, vital_status, death, cause):
    patient = PatientFactory(center=center)
    contact = patient.diagnosis_date + timedelta(days=500)
    follow_up = FollowUp(
        patient=patient,
        contact_date=contact,
        vital_status=vital_status,
        death_date=None if death is None else contact + timedelta(days=death),
        cause_of_death=cause,
    )
    insert_refused(follow_up)


def test_database_refuses_a_second_death(center):
    patient = PatientFactory(center=center)
    day = patient.diagnosis_date + timedelta(days=500)
    FollowUp.objects.create(
        patient=patient, contact_date=day, vital_status="DEAD", death_date=day, cause_of_death="LEUKEMIA"
    )
    later = day + timedelta(days=10)
    insert_refused(
        FollowUp(patient=patient, contact_date=later, vital_status="DEAD", death_date=later, cause_of_death="LEUKEMIA")
    )
    assert FollowUp.objects.filter(patient=patient).count() == 1


def test_database_constraints_exist_on_this_backend():
    """Guard for the tests above: the CHECK constraints were created on this database."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, FollowUp._meta.db_table)
    assert "follow_up_death_fields_match_status" in constraints
