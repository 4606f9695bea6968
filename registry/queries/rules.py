"""The data-quality rules: each declared once, with the query it raises.

A rule is a function decorated with :func:`rule`. It takes ``as_of`` (the day the checks run,
a date) and returns ``(patient_id, record_id, field)`` for every record it finds, computed by a
set-based query (a few SQL statements whatever the cohort size; the course facts' cut-offs and
predicates from ``registry.course`` where they apply). ``services.run_quality_checks`` turns the
findings into queries: one per record and field, never a duplicate, closed with
``resolved_message`` once the data no longer trigger the rule. docs/queries.md says how to add one.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import DateField, Exists, ExpressionWrapper, F, Max, OuterRef, Q, Subquery
from django.utils.translation import gettext_lazy as _

from ..choices import CauseOfDeath, DiseaseStatusAtTransplant, FirstLineOutcome, SalvageResponse, VitalStatus
from ..models import FollowUp, Patient, Relapse, SalvageLine, Transplant
from .models import RecordType

FOLLOW_UP_OVERDUE_DAYS = 365
WBC_IMPLAUSIBLY_HIGH = Decimal("1000")  # x10^9/L
WBC_IMPLAUSIBLY_LOW = Decimal("0.1")
RELAPSE_SOON_AFTER_CR_DAYS = 14
SALVAGE_RESPONSE_DUE_DAYS = 90
FIRST_LINE_RESPONSE_DUE_DAYS = 60
RESOLVED = _("Closed automatically: the data no longer trigger this rule.")


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    message: str
    record_type: str
    find: object
    resolved_message: str = RESOLVED

    def __str__(self):
        return str(self.title)


RULES = []


def rule(*, code, title, message, record_type):
    """Register the decorated ``find(as_of)`` as a data-quality rule."""

    def register(find):
        if any(r.code == code for r in RULES):
            raise ValueError(f"Two data-quality rules named {code}")
        RULES.append(Rule(code=code, title=title, message=message, record_type=record_type, find=find))
        return find

    return register


def rule_by_code(code):
    return next((r for r in RULES if r.code == code), None)


@rule(
    code="follow_up_overdue",
    title=_("No follow-up for more than 12 months"),
    message=_(
        "No follow-up has been recorded for more than 12 months for this living patient. "
        "Please enter the latest contact (or mark the patient lost to follow-up)."
    ),
    record_type=RecordType.PATIENT,
)
def follow_up_overdue(as_of):
    """Alive patients (no death recorded, not lost to follow-up at their latest contact) whose
    latest contact (or diagnosis, with no contact) is more than 365 days before ``as_of``."""
    cutoff = as_of - timedelta(days=FOLLOW_UP_OVERDUE_DAYS)
    dead = FollowUp.objects.filter(patient=OuterRef("pk"), vital_status=VitalStatus.DEAD)
    latest_lost = FollowUp.objects.filter(patient=OuterRef("pk")).order_by("-contact_date").values("lost_to_follow_up")
    patients = (
        Patient.objects.annotate(last_contact=Max("follow_ups__contact_date"), lost=Subquery(latest_lost[:1]))
        .filter(~Exists(dead), ~Q(lost=True))
        .filter(Q(last_contact__lt=cutoff) | Q(last_contact__isnull=True, diagnosis_date__lt=cutoff))
    )
    return [(pk, pk, "") for pk in patients.values_list("pk", flat=True)]


@rule(
    code="death_incomplete",
    title=_("Dead without a death date or cause"),
    message=_("The death is recorded without its date or with an unknown cause. Please complete it from source."),
    record_type=RecordType.FOLLOW_UP,
)
def death_incomplete(as_of):
    """Deaths without a date (field death_date) or whose cause is missing or unknown (cause_of_death)."""
    deaths = FollowUp.objects.filter(vital_status=VitalStatus.DEAD)
    found = [(p, pk, "death_date") for pk, p in deaths.filter(death_date__isnull=True).values_list("pk", "patient_id")]
    unknown = deaths.filter(Q(cause_of_death="") | Q(cause_of_death=CauseOfDeath.UNKNOWN))
    return found + [(p, pk, "cause_of_death") for pk, p in unknown.values_list("pk", "patient_id")]


@rule(
    code="wbc_implausible",
    title=_("WBC above 1,000 or below 0.1 x10^9/L"),
    message=_("WBC at diagnosis is above 1,000 or below 0.1 x10^9/L. Please confirm the value and its unit."),
    record_type=RecordType.PATIENT,
)
def wbc_implausible(as_of):
    patients = Patient.objects.filter(Q(wbc__gt=WBC_IMPLAUSIBLY_HIGH) | Q(wbc__lt=WBC_IMPLAUSIBLY_LOW))
    return [(pk, pk, "wbc") for pk in patients.values_list("pk", flat=True)]


@rule(
    code="relapse_soon_after_cr",
    title=_("Relapse within 14 days of CR"),
    message=_("The relapse is dated within 14 days of first complete remission. Please confirm both dates."),
    record_type=RecordType.RELAPSE,
)
def relapse_soon_after_cr(as_of):
    cr_date = F("patient__first_line_response__assessment_date")
    soon = ExpressionWrapper(cr_date + timedelta(days=RELAPSE_SOON_AFTER_CR_DAYS), output_field=DateField())
    relapses = Relapse.objects.filter(
        patient__first_line_response__outcome=FirstLineOutcome.COMPLETE_REMISSION,
        relapse_date__gte=cr_date,
        relapse_date__lte=soon,
    )
    return [(p, pk, "relapse_date") for pk, p in relapses.values_list("pk", "patient_id")]


@rule(
    code="salvage_without_response",
    title=_("Salvage line without a response 90 days after its start"),
    message=_("No response is recorded 90 days after the start of this salvage line. Please enter the response."),
    record_type=RecordType.SALVAGE_LINE,
)
def salvage_without_response(as_of):
    """Lines started more than 90 days before ``as_of`` whose response is still 'not evaluable / unknown'
    without a date."""
    lines = SalvageLine.objects.filter(
        response=SalvageResponse.NOT_EVALUABLE,
        response_date__isnull=True,
        start_date__lt=as_of - timedelta(days=SALVAGE_RESPONSE_DUE_DAYS),
    )
    return [(p, pk, "response") for pk, p in lines.values_list("pk", "patient_id")]


@rule(
    code="hsct_without_status",
    title=_("HSCT without disease status"),
    message=_("The disease status at HSCT is missing or unknown. Please complete it from source."),
    record_type=RecordType.TRANSPLANT,
)
def hsct_without_status(as_of):
    transplants = Transplant.objects.filter(Q(disease_status="") | Q(disease_status=DiseaseStatusAtTransplant.UNKNOWN))
    return [(p, pk, "disease_status") for pk, p in transplants.values_list("pk", "patient_id")]


@rule(
    code="first_line_response_missing",
    title=_("No first-line response 60 days after diagnosis"),
    message=_("No first-line response is recorded 60 days after diagnosis. Please enter CR1 or induction failure."),
    record_type=RecordType.PATIENT,
)
def first_line_response_missing(as_of):
    patients = Patient.objects.filter(
        first_line_response__isnull=True, diagnosis_date__lt=as_of - timedelta(days=FIRST_LINE_RESPONSE_DUE_DAYS)
    )
    return [(pk, pk, "") for pk in patients.values_list("pk", flat=True)]
