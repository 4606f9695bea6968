"""factory_boy factories: a valid infant course by default, every date relative to diagnosis.

Factories save through ``registry.services`` so tests see the same validation and audit as
the pages; ``Factory.build()`` gives an unsaved instance for validation tests.
"""

from datetime import date, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from registry import services
from registry.models import (
    Center,
    FirstLineResponse,
    FollowUp,
    Membership,
    Patient,
    Relapse,
    SalvageLine,
    Transplant,
    Trial,
)

PASSWORD = "correct-horse-registry-42"


class ServiceFactory(factory.django.DjangoModelFactory):
    """Creates records with ``services.save_record`` as the system, like a management command."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        record = model_class(*args, **kwargs)
        return services.save_record(user=None, record=record, source="test:factory")


class CenterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Center
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"C{n:03d}")
    name = factory.LazyAttribute(lambda o: f"Center {o.code}")


class UserFactory(factory.django.DjangoModelFactory):
    """A user with the password PASSWORD and, unless ``role=None``, a registry membership."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")

    @classmethod
    def _create(cls, model_class, *args, role="COORDINATOR", center=None, **kwargs):
        user = super()._create(model_class, *args, **kwargs)
        user.set_password(PASSWORD)
        user.save()
        if role:
            Membership.objects.update_or_create(user=user, defaults={"role": role, "center": center})
        return user


def trial(code="MLL96"):
    """The trial row (created by a data migration; recreated if a transactional test flushed it)."""
    opened = {"MLL96": date(1995, 12, 1), "MLL98": date(1998, 2, 1)}[code]
    return Trial.objects.get_or_create(code=code, defaults={"name": code, "registration_opened": opened})[0]


class PatientFactory(ServiceFactory):
    class Meta:
        model = Patient

    study_id = factory.Sequence(lambda n: f"MLL96-{n + 1:04d}")
    center = factory.SubFactory(CenterFactory)
    trial = factory.LazyFunction(trial)
    sex = "F"
    date_of_birth = date(1996, 1, 10)
    diagnosis_date = factory.LazyAttribute(lambda o: o.date_of_birth + timedelta(days=120))
    registration_date = factory.LazyAttribute(lambda o: o.diagnosis_date + timedelta(days=2))
    wbc = Decimal("150.0")
    cns_status = "CNS1"
    immunophenotype = "PRO_B"
    prednisone_response = "GOOD"
    mll_partner = "AF4"
    mll_detection_method = "FISH"


class FirstLineResponseFactory(ServiceFactory):
    class Meta:
        model = FirstLineResponse

    patient = factory.SubFactory(PatientFactory)
    outcome = "CR"
    assessment_date = factory.LazyAttribute(lambda o: o.patient.diagnosis_date + timedelta(days=35))


class RelapseFactory(ServiceFactory):
    class Meta:
        model = Relapse

    patient = factory.SubFactory(PatientFactory)
    relapse_date = factory.LazyAttribute(lambda o: o.patient.diagnosis_date + timedelta(days=200))
    site = "BM"


class SalvageLineFactory(ServiceFactory):
    class Meta:
        model = SalvageLine

    patient = factory.SubFactory(PatientFactory)
    regimen = "FLAG"
    agents = "fludarabine, cytarabine, G-CSF"
    start_date = factory.LazyAttribute(lambda o: o.patient.diagnosis_date + timedelta(days=210))
    response = "CR"
    response_date = factory.LazyAttribute(lambda o: o.start_date + timedelta(days=30))


class TransplantFactory(ServiceFactory):
    class Meta:
        model = Transplant

    patient = factory.SubFactory(PatientFactory)
    transplant_date = factory.LazyAttribute(lambda o: o.patient.diagnosis_date + timedelta(days=300))
    transplant_type = "ALLO"
    donor = "UCB"
    stem_cell_source = "CB"
    conditioning = "BU"
    conditioning_intensity = "MAC"
    disease_status = "CR2+"


class FollowUpFactory(ServiceFactory):
    class Meta:
        model = FollowUp

    patient = factory.SubFactory(PatientFactory)
    contact_date = factory.LazyAttribute(lambda o: o.patient.diagnosis_date + timedelta(days=2000))
    vital_status = "ALIVE"
    death_date = None
    cause_of_death = ""


def relapsed_course(patient=None, **patient_kwargs):
    """A patient with CR1, a relapse, a salvage line reaching CR2, an HSCT and a follow-up alive."""
    patient = patient or PatientFactory(**patient_kwargs)
    FirstLineResponseFactory(patient=patient)
    RelapseFactory(patient=patient)
    SalvageLineFactory(patient=patient)
    TransplantFactory(patient=patient)
    FollowUpFactory(patient=patient)
    return patient
