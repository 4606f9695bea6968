"""Course rules of registry.chronology, reported on the field of the record being edited."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from registry.models import FirstLineResponse, FollowUp, Patient, Relapse
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


def days(n):
    return timedelta(days=n)


def errors_of(record):
    with pytest.raises(ValidationError) as caught:
        record.full_clean()
    return caught.value.message_dict


@pytest.fixture
def patient(center):
    """Diagnosed 1996-05-09 (born 1996-01-10)."""
    return PatientFactory(center=center)


@pytest.fixture
def in_cr1(patient):
    FirstLineResponseFactory(patient=patient)  # CR1 on diagnosis + 35 days
    return patient


def test_birth_after_diagnosis_is_refused_on_both_dates(patient):
    patient.date_of_birth = patient.diagnosis_date + days(1)
    errors = errors_of(patient)
    assert "must not be after the date of diagnosis" in errors["date_of_birth"][0]
    assert "must not be before the date of birth" in errors["diagnosis_date"][0]


def test_remission_before_diagnosis_is_refused_on_the_remission(patient):
    response = FirstLineResponseFactory.build(patient=patient, assessment_date=patient.diagnosis_date - days(1))
    errors = errors_of(response)
    assert list(errors) == ["assessment_date"]
    assert "before the date of diagnosis" in errors["assessment_date"][0]


def test_moving_diagnosis_after_remission_is_refused_on_the_diagnosis(in_cr1):
    cr1 = in_cr1.first_line_response.assessment_date
    in_cr1.diagnosis_date = cr1 + days(1)
    in_cr1.registration_date = cr1 + days(2)
    errors = errors_of(in_cr1)
    assert list(errors) == ["diagnosis_date"]
    assert f"after the first complete remission ({cr1})" in errors["diagnosis_date"][0]


def test_diagnosis_on_the_day_of_remission_is_allowed(in_cr1):
    in_cr1.diagnosis_date = in_cr1.first_line_response.assessment_date
    in_cr1.registration_date = in_cr1.diagnosis_date
    in_cr1.full_clean()


def test_relapse_needs_a_first_line_response(patient):
    errors = errors_of(RelapseFactory.build(patient=patient))
    assert errors["relapse_date"] == ["Record the first-line response (CR1) before a relapse."]


def test_relapse_before_cr1_is_refused_on_the_relapse(in_cr1):
    relapse = RelapseFactory.build(patient=in_cr1, relapse_date=in_cr1.first_line_response.assessment_date - days(1))
    assert "must follow a complete remission" in errors_of(relapse)["relapse_date"][0]


def test_relapse_after_induction_failure_is_refused(patient):
    FirstLineResponseFactory(patient=patient, outcome="INDUCTION_FAILURE")
    relapse = RelapseFactory.build(patient=patient)
    assert "must follow a complete remission" in errors_of(relapse)["relapse_date"][0]


def test_moving_cr1_after_the_relapse_is_refused_on_cr1(in_cr1):
    relapse = RelapseFactory(patient=in_cr1)
    response = FirstLineResponse.objects.get(patient=in_cr1)
    response.assessment_date = relapse.relapse_date + days(1)
    errors = errors_of(response)
    assert errors["assessment_date"] == [f"The date of CR1 must not be after relapse 1 ({relapse.relapse_date})."]


def test_second_relapse_needs_a_salvage_remission_in_between(in_cr1):
    RelapseFactory(patient=in_cr1)  # diagnosis + 200
    SalvageLineFactory(patient=in_cr1, response="NR", response_date=None)  # starts at + 210
    second = RelapseFactory.build(patient=in_cr1, relapse_date=in_cr1.diagnosis_date + days(400))
    assert "none is recorded since relapse 1" in errors_of(second)["relapse_date"][0]


def test_second_relapse_after_a_salvage_remission_is_allowed(in_cr1):
    RelapseFactory(patient=in_cr1)
    SalvageLineFactory(patient=in_cr1)  # CR on diagnosis + 240
    RelapseFactory.build(patient=in_cr1, relapse_date=in_cr1.diagnosis_date + days(400)).full_clean()


def test_salvage_needs_a_relapse_or_induction_failure(in_cr1):
    errors = errors_of(SalvageLineFactory.build(patient=in_cr1))
    assert "follows a relapse or an induction failure" in errors["start_date"][0]


def test_salvage_after_induction_failure_is_allowed(patient):
    failure = FirstLineResponseFactory(patient=patient, outcome="INDUCTION_FAILURE")
    SalvageLineFactory.build(patient=patient, start_date=failure.assessment_date + days(7)).full_clean()


def test_salvage_before_the_relapse_is_refused_on_the_salvage(in_cr1):
    relapse = RelapseFactory(patient=in_cr1)
    line = SalvageLineFactory.build(patient=in_cr1, start_date=relapse.relapse_date - days(1))
    errors = errors_of(line)
    assert errors["start_date"] == [
        f"Salvage therapy must not start before the first relapse or induction failure ({relapse.relapse_date})."
    ]


def test_moving_the_relapse_after_salvage_is_refused_on_the_relapse(in_cr1):
    relapse = RelapseFactory(patient=in_cr1)
    line = SalvageLineFactory(patient=in_cr1, response="NR", response_date=None)
    relapse.relapse_date = line.start_date + days(1)
    assert "must not be after the start of salvage FLAG" in errors_of(relapse)["relapse_date"][0]


def test_salvage_response_not_before_its_start(in_cr1):
    RelapseFactory(patient=in_cr1)
    line = SalvageLineFactory.build(patient=in_cr1)
    line.response_date = line.start_date - days(1)
    assert list(errors_of(line)) == ["response_date"]


def test_transplant_in_cr1_after_a_relapse_is_refused(in_cr1):
    relapse = RelapseFactory(patient=in_cr1)
    transplant = TransplantFactory.build(
        patient=in_cr1, disease_status="CR1", transplant_date=relapse.relapse_date + days(30)
    )
    assert "cannot be first remission" in errors_of(transplant)["disease_status"][0]


def test_transplant_in_cr1_after_induction_failure_is_refused(patient):
    FirstLineResponseFactory(patient=patient, outcome="INDUCTION_FAILURE")
    transplant = TransplantFactory.build(patient=patient, disease_status="CR1")
    assert errors_of(transplant)["disease_status"] == ["The patient never reached CR1 (induction failure)."]


# --- Death and follow-up ----------------------------------------------------------------------


def record_death(patient, on):
    return FollowUpFactory(
        patient=patient, contact_date=on, vital_status="DEAD", death_date=on, cause_of_death="LEUKEMIA"
    )


def test_nothing_after_death(in_cr1):
    death = record_death(in_cr1, in_cr1.diagnosis_date + days(150))
    relapse = RelapseFactory.build(patient=in_cr1, relapse_date=death.death_date + days(1))
    assert f"after the patient's death ({death.death_date})" in errors_of(relapse)["relapse_date"][0]


def test_moving_death_before_a_transplant_is_refused_on_the_death(center):
    patient = relapsed_course(center=center)  # HSCT on diagnosis + 300, alive at + 2000
    follow_up = FollowUp.objects.get(patient=patient)
    follow_up.vital_status, follow_up.cause_of_death = "DEAD", "LEUKEMIA"
    follow_up.death_date = patient.diagnosis_date + days(299)
    errors = errors_of(follow_up)
    assert list(errors) == ["death_date"]
    assert "must not be before the HSCT" in errors["death_date"][0]


def test_a_contact_alive_after_death_is_refused(in_cr1):
    death = record_death(in_cr1, in_cr1.diagnosis_date + days(150))
    contact = FollowUpFactory.build(patient=in_cr1, contact_date=death.death_date + days(10))
    assert "cannot report them alive" in errors_of(contact)["vital_status"][0]


def test_a_death_reported_at_a_later_contact_is_allowed(in_cr1):
    died = in_cr1.diagnosis_date + days(150)
    FollowUpFactory.build(
        patient=in_cr1, contact_date=died + days(20), vital_status="DEAD", death_date=died, cause_of_death="INFECTION"
    ).full_clean()


def test_one_death_at_most(in_cr1):
    death = record_death(in_cr1, in_cr1.diagnosis_date + days(150))
    again = FollowUpFactory.build(
        patient=in_cr1,
        contact_date=death.death_date + days(5),
        vital_status="DEAD",
        death_date=death.death_date + days(5),
        cause_of_death="LEUKEMIA",
    )
    assert "death is already recorded" in " ".join(sum(errors_of(again).values(), []))


def test_an_event_after_the_last_contact_is_refused(in_cr1):
    contact = FollowUpFactory(patient=in_cr1, contact_date=in_cr1.diagnosis_date + days(100))
    relapse = RelapseFactory.build(patient=in_cr1, relapse_date=contact.contact_date + days(1))
    assert "after the last follow-up contact" in errors_of(relapse)["relapse_date"][0]


def test_moving_the_last_contact_before_an_event_is_refused_on_the_contact(center):
    patient = relapsed_course(center=center)
    contact = FollowUp.objects.get(patient=patient)
    contact.contact_date = patient.diagnosis_date + days(250)  # before the HSCT at + 300
    errors = errors_of(contact)
    assert list(errors) == ["contact_date"]
    assert "must not be before the HSCT" in errors["contact_date"][0]


def test_contact_before_diagnosis_is_refused(patient):
    contact = FollowUpFactory.build(patient=patient, contact_date=patient.diagnosis_date - days(1))
    assert "before the date of diagnosis" in errors_of(contact)["contact_date"][0]


def test_a_valid_course_passes_every_rule(center):
    patient = relapsed_course(center=center)
    for record in [Patient.objects.get(pk=patient.pk), *FollowUp.objects.filter(patient=patient)]:
        record.full_clean()


def test_a_second_relapse_on_the_same_date_is_refused_on_the_date_field(center):
    patient = PatientFactory(center=center)
    FirstLineResponseFactory(patient=patient)
    first = RelapseFactory(patient=patient)
    duplicate = Relapse(patient=patient, relapse_date=first.relapse_date, site="CNS")
    with pytest.raises(ValidationError) as error:
        duplicate.full_clean()
    assert error.value.message_dict == {
        "relapse_date": [f"This patient already has a relapse on {first.relapse_date}."]
    }
