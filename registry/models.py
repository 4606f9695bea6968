"""The clinical facts of the MLL96/MLL98 registry and their invariants.

Single-record rules live in ``clean()`` and, where the database can say them, in
``Meta.constraints``. Rules that span a patient's course (birth <= diagnosis <= CR <= relapse,
nothing after death, ...) live in ``registry.chronology`` and are called from every record's
``clean()``. Writes go through ``registry.services``; reads through ``registry.selectors``.
"""

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from . import chronology
from .access import center_scope
from .audit import AuditedHistoricalRecords, AuditedQuerySet, AuditFields, ReasonRequired, reason_for, recorded_write
from .choices import (
    CauseOfDeath,
    CNSStatus,
    Conditioning,
    ConditioningIntensity,
    DetectionMethod,
    DiseaseStatusAtTransplant,
    Donor,
    FirstLineOutcome,
    Immunophenotype,
    MLLPartner,
    PrednisoneResponse,
    RelapseSite,
    Role,
    SalvageResponse,
    Sex,
    StemCellSource,
    TransplantType,
    VitalStatus,
)
from .vocabularies.models import code_for_text, validate_regimen_code

INFANT_AGE_LIMIT_DAYS = 365


class Center(models.Model):
    """A participating hospital."""

    code = models.CharField(
        _("code"),
        max_length=12,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9]{2,12}$", _("Use 2-12 capital letters or digits, e.g. TKY01."))],
    )
    name = models.CharField(_("name"), max_length=200)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = _("center")
        verbose_name_plural = _("centers")

    def __str__(self):
        return f"{self.code} {self.name}"


class Trial(models.Model):
    """A registration protocol: MLL96 or MLL98 (created by a data migration)."""

    code = models.CharField(_("code"), max_length=10, unique=True)
    name = models.CharField(_("name"), max_length=200)
    registration_opened = models.DateField(_("registration opened"))
    registration_closed = models.DateField(_("registration closed"), null=True, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("trial")
        verbose_name_plural = _("trials")

    def __str__(self):
        return self.code


class Membership(models.Model):
    """A user's role in the registry and, for center-scoped roles, their center."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    center = models.ForeignKey(
        Center,
        verbose_name=_("center"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text=_("Required for coordinators; optional for investigators (blank = all centers)."),
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(
                condition=~Q(role=Role.COORDINATOR) | Q(center__isnull=False),
                name="membership_coordinator_has_center",
                violation_error_message=_("A study coordinator must belong to a center."),
            ),
            models.CheckConstraint(
                condition=Q(role__in=[Role.COORDINATOR, Role.INVESTIGATOR]) | Q(center__isnull=True),
                name="membership_center_only_for_site_roles",
                violation_error_message=_("Only coordinators and investigators are scoped to a center."),
            ),
        ]

    def __str__(self):
        where = f" at {self.center.code}" if self.center_id else ""
        return f"{self.user} ({self.get_role_display()}{where})"


class ClinicalQuerySet(AuditedQuerySet):
    """Audited writes, and the one rule for which clinical records a user may see."""

    def for_user(self, user):
        """Records of the centers ``user`` may see (see ``registry.access``); none for outsiders."""
        scope = center_scope(user)
        if scope is None:
            return self
        lookup = "center_id__in" if self.model is Patient else "patient__center_id__in"
        return self.filter(**{lookup: scope})


class ClinicalRecord(models.Model):
    """Base of every audited clinical record.

    Saving an existing record or deleting one needs a reason (``instance._change_reason`` or
    ``audit_context(reason=...)``); ``version`` counts saves so stale edits can be refused.
    """

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    objects = ClinicalQuerySet.as_manager()
    # Where the audit trail finds the record's center and study ID: the path to its patient.
    audit_patient_path = "patient__"

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            if not reason_for(self):
                raise ReasonRequired("change")
            self.version = (self.version or 0) + 1
        with recorded_write(self, using=kwargs.get("using") or "default"):
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if not reason_for(self):
            raise ReasonRequired("deletion")
        with recorded_write(self, using=kwargs.get("using") or "default"):
            return super().delete(*args, **kwargs)

    def clean(self):
        self.validate_record()
        chronology.check(self)

    def validate_record(self):
        """Rules on this record alone (raise ``ValidationError`` by field); the course rules are
        ``registry.chronology``'s. Bulk writes call this and check the course in memory."""

    def audit_center_id(self):
        return self.patient.center_id

    def audit_study_id(self):
        return self.patient.study_id


class Patient(ClinicalRecord):
    """An infant registered in MLL96 or MLL98. Holds no name and no medical record number."""

    study_id = models.CharField(
        _("study ID"),
        max_length=20,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Z0-9]{2,8}-\d{3,6}$",
                _("Study IDs look like MLL96-0012 (a code, a hyphen, 3-6 digits) and never contain a name."),
            )
        ],
        error_messages={"unique": _("A patient with this study ID is already registered.")},
    )
    center = models.ForeignKey(Center, verbose_name=_("center"), on_delete=models.PROTECT, related_name="patients")
    trial = models.ForeignKey(Trial, verbose_name=_("trial"), on_delete=models.PROTECT, related_name="patients")
    registration_date = models.DateField(_("registration date"), help_text=_("Date of registration in the trial."))
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    date_of_birth = models.DateField(_("date of birth"))
    diagnosis_date = models.DateField(_("date of diagnosis"))
    wbc = models.DecimalField(
        _("WBC at diagnosis (x10^9/L)"),
        max_digits=7,
        decimal_places=1,
        validators=[MinValueValidator(0), MaxValueValidator(5000)],
    )
    cns_status = models.CharField(_("CNS status"), max_length=10, choices=CNSStatus.choices)
    immunophenotype = models.CharField(_("immunophenotype"), max_length=10, choices=Immunophenotype.choices)
    prednisone_response = models.CharField(_("prednisone response"), max_length=10, choices=PrednisoneResponse.choices)
    mll_partner = models.CharField(_("MLL partner gene"), max_length=10, choices=MLLPartner.choices)
    mll_detection_method = models.CharField(
        _("MLL rearrangement detected by"), max_length=20, choices=DetectionMethod.choices
    )
    locked = models.BooleanField(
        _("locked"), default=False, help_text=_("Locked records can only be changed after unlocking.")
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("verified by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    history = AuditedHistoricalRecords(bases=[AuditFields])
    audit_patient_path = ""

    # What the case report form holds, in its order: pages, API and templates list these.
    entry_fields = (
        "study_id",
        "trial",
        "registration_date",
        "sex",
        "date_of_birth",
        "diagnosis_date",
        "wbc",
        "cns_status",
        "immunophenotype",
        "prednisone_response",
        "mll_partner",
        "mll_detection_method",
    )

    class Meta:
        ordering = ["study_id"]
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [
            models.CheckConstraint(
                condition=Q(date_of_birth__lte=F("diagnosis_date")),
                name="patient_born_before_diagnosis",
                violation_error_message=_("The date of birth must not be after the date of diagnosis."),
            ),
            models.CheckConstraint(
                condition=Q(registration_date__gte=F("diagnosis_date")),
                name="patient_registered_after_diagnosis",
                violation_error_message=_("The registration date must not be before the date of diagnosis."),
            ),
            models.CheckConstraint(
                condition=Q(wbc__gte=0),
                name="patient_wbc_not_negative",
                violation_error_message=_("WBC must not be negative."),
            ),
        ]

    def __str__(self):
        return self.study_id

    @property
    def age_at_diagnosis_days(self):
        if self.date_of_birth and self.diagnosis_date:
            return (self.diagnosis_date - self.date_of_birth).days
        return None

    def audit_center_id(self):
        return self.center_id

    def audit_study_id(self):
        return self.study_id

    def validate_record(self):
        errors = {}
        if self.date_of_birth and self.diagnosis_date:
            age = self.age_at_diagnosis_days
            if age >= INFANT_AGE_LIMIT_DAYS:
                errors["diagnosis_date"] = _(
                    "Age at diagnosis is %(age)d days; MLL96/MLL98 register infants only (under 365 days)."
                ) % {"age": age}
        for field in ("date_of_birth", "diagnosis_date", "registration_date"):
            value = getattr(self, field)
            if value and value > date.today():
                errors.setdefault(field, _("This date is in the future."))
        if errors:
            raise ValidationError(errors)


class FirstLineResponse(ClinicalRecord):
    """Outcome of first-line induction: complete remission (CR1) with its date, or induction failure."""

    patient = models.OneToOneField(
        Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="first_line_response"
    )
    outcome = models.CharField(_("outcome"), max_length=20, choices=FirstLineOutcome.choices)
    assessment_date = models.DateField(
        _("assessment date"),
        help_text=_("Date of CR1, or the date induction failure was established."),
    )

    history = AuditedHistoricalRecords(bases=[AuditFields])

    # What the case report form holds, in its order: pages, API and templates list these.
    entry_fields = ("outcome", "assessment_date")

    class Meta:
        verbose_name = _("first line response")
        verbose_name_plural = _("first line responses")

    def __str__(self):
        return gettext("%(patient)s: %(outcome)s on %(date)s") % {
            "patient": self.patient,
            "outcome": self.get_outcome_display(),
            "date": self.assessment_date,
        }


class Relapse(ClinicalRecord):
    """A recurrence after complete remission. Its sequence number follows from the dates."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="relapses")
    relapse_date = models.DateField(_("relapse date"))
    site = models.CharField(_("site"), max_length=10, choices=RelapseSite.choices)

    history = AuditedHistoricalRecords(bases=[AuditFields])

    # What the case report form holds, in its order: pages, API and templates list these.
    entry_fields = ("relapse_date", "site")

    class Meta:
        ordering = ["patient", "relapse_date"]
        verbose_name = _("relapse")
        verbose_name_plural = _("relapses")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "relapse_date"],
                name="relapse_one_per_patient_and_date",
                violation_error_message=_("This patient already has a relapse on this date."),
            )
        ]

    def __str__(self):
        return gettext("%(patient)s: relapse (%(site)s) on %(date)s") % {
            "patient": self.patient,
            "site": self.get_site_display(),
            "date": self.relapse_date,
        }


class SalvageLine(ClinicalRecord):
    """A second-line (salvage) regimen given after relapse or induction failure."""

    patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="salvage_lines"
    )
    regimen = models.CharField(
        _("regimen"), max_length=120, help_text=_("Protocol or regimen name, e.g. FLAG or MLL98 rescue.")
    )
    # The regimen's code in the registry's list (registry.vocabularies): a listed regimen's code or
    # name, or a text a data manager mapped, is coded on save (``code_regimen``); other text stays
    # uncoded ("") until a data manager maps it. Analyses and exports use the code; ``regimen``
    # keeps the name as entered. (PostgreSQL refuses a code not in the list, migration 0011.)
    regimen_code = models.CharField(
        _("regimen code"),
        max_length=30,
        blank=True,
        default="",
        validators=[validate_regimen_code],
        help_text=_("Code of the regimen in the registry's list; empty until coded."),
    )
    agents = models.CharField(
        _("agents"), max_length=300, help_text=_("Agents given, comma-separated, e.g. fludarabine, cytarabine.")
    )
    start_date = models.DateField(_("start date"))
    response = models.CharField(_("response"), max_length=2, choices=SalvageResponse.choices)
    response_date = models.DateField(_("response date"), null=True, blank=True)

    history = AuditedHistoricalRecords(bases=[AuditFields])

    # What the case report form holds, in its order: pages, API and templates list these.
    entry_fields = ("regimen", "agents", "start_date", "response", "response_date")
    # Not a case-report field: the code of the regimen as entered, coded on entry or by a data manager.
    coded_fields = ("regimen_code",)

    class Meta:
        ordering = ["patient", "start_date"]
        verbose_name = _("salvage line")
        verbose_name_plural = _("salvage lines")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "start_date"],
                name="salvage_one_line_per_patient_and_start",
                violation_error_message=_("This patient already has a salvage line starting on this date."),
            ),
            models.CheckConstraint(
                condition=Q(response_date__isnull=True) | Q(response_date__gte=F("start_date")),
                name="salvage_response_after_start",
                violation_error_message=_("The response date must not be before the start of the regimen."),
            ),
            models.CheckConstraint(
                condition=~Q(response="CR") | Q(response_date__isnull=False),
                name="salvage_remission_has_date",
                violation_error_message=_("A complete remission needs its date."),
            ),
        ]

    def __str__(self):
        return gettext("%(patient)s: %(regimen)s from %(date)s") % {
            "patient": self.patient,
            "regimen": self.regimen,
            "date": self.start_date,
        }

    def code_regimen(self):
        """A line without a code gets the code of its regimen text if the list knows the text (a
        regimen's code, name or Japanese name, or a text a data manager mapped); a given code is
        upper-cased. Every path (pages, API, import, single or bulk) codes alike: it runs before
        the field checks and again with the record's rules (the bulk checks call only those)."""
        self.regimen_code = (self.regimen_code or "").strip().upper()
        if not self.regimen_code and self.regimen:
            self.regimen_code = code_for_text(self.regimen)

    def clean_fields(self, exclude=None):
        self.code_regimen()
        super().clean_fields(exclude=exclude)

    def validate_record(self):
        self.code_regimen()
        errors = {}
        if self.response == SalvageResponse.COMPLETE_REMISSION and not self.response_date:
            errors["response_date"] = _("A complete remission needs its date.")
        if self.response_date and self.start_date and self.response_date < self.start_date:
            errors["response_date"] = _(
                "The response date must not be before the start of the regimen (%(start)s)."
            ) % {"start": self.start_date}
        if errors:
            raise ValidationError(errors)


class Transplant(ClinicalRecord):
    """A hematopoietic stem cell transplant (HSCT)."""

    patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="transplants"
    )
    transplant_date = models.DateField(_("HSCT date"))
    transplant_type = models.CharField(_("transplant type"), max_length=4, choices=TransplantType.choices)
    donor = models.CharField(_("donor"), max_length=4, choices=Donor.choices)
    stem_cell_source = models.CharField(_("stem cell source"), max_length=2, choices=StemCellSource.choices)
    conditioning = models.CharField(_("conditioning"), max_length=5, choices=Conditioning.choices)
    conditioning_intensity = models.CharField(
        _("conditioning intensity"), max_length=3, choices=ConditioningIntensity.choices
    )
    disease_status = models.CharField(
        _("disease status at HSCT"), max_length=7, choices=DiseaseStatusAtTransplant.choices
    )

    history = AuditedHistoricalRecords(bases=[AuditFields])

    # What the case report form holds, in its order: pages, API and templates list these.
    entry_fields = (
        "transplant_date",
        "transplant_type",
        "donor",
        "stem_cell_source",
        "conditioning",
        "conditioning_intensity",
        "disease_status",
    )

    class Meta:
        ordering = ["patient", "transplant_date"]
        verbose_name = _("transplant")
        verbose_name_plural = _("transplants")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "transplant_date"],
                name="transplant_one_per_patient_and_date",
                violation_error_message=_("This patient already has a transplant on this date."),
            ),
            models.CheckConstraint(
                condition=(Q(transplant_type="AUTO") & Q(donor="AUTO"))
                | (Q(transplant_type="ALLO") & ~Q(donor="AUTO")),
                name="transplant_donor_matches_type",
                violation_error_message=_(
                    "An autologous transplant has the patient as donor; an allogeneic one has not."
                ),
            ),
        ]

    def __str__(self):
        return gettext("%(patient)s: HSCT on %(date)s") % {"patient": self.patient, "date": self.transplant_date}

    def validate_record(self):
        if self.transplant_type and self.donor:
            autologous = self.transplant_type == TransplantType.AUTOLOGOUS
            if autologous != (self.donor == Donor.AUTOLOGOUS):
                raise ValidationError(
                    {"donor": _("An autologous transplant has the patient as donor; an allogeneic one has not.")}
                )


class FollowUp(ClinicalRecord):
    """A follow-up contact: vital status on that date and, once, the death."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="follow_ups")
    contact_date = models.DateField(_("date of contact"), help_text=_("Date the patient's status was last known."))
    vital_status = models.CharField(_("vital status"), max_length=5, choices=VitalStatus.choices)
    death_date = models.DateField(_("death date"), null=True, blank=True)
    cause_of_death = models.CharField(_("cause of death"), max_length=20, choices=CauseOfDeath.choices, blank=True)
    lost_to_follow_up = models.BooleanField(
        _("lost to follow up"), default=False, help_text=_("No contact is expected after this one.")
    )
    second_malignancy_date = models.DateField(
        _("second malignancy date"),
        null=True,
        blank=True,
        help_text=_("Date a second malignancy was diagnosed, if reported at this contact."),
    )

    history = AuditedHistoricalRecords(bases=[AuditFields])

    # What the case report form holds, in its order: pages, API and templates list these.
    entry_fields = (
        "contact_date",
        "vital_status",
        "death_date",
        "cause_of_death",
        "lost_to_follow_up",
        "second_malignancy_date",
    )

    class Meta:
        ordering = ["patient", "contact_date"]
        verbose_name = _("follow up")
        verbose_name_plural = _("follow ups")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "contact_date"],
                name="follow_up_one_per_patient_and_date",
                violation_error_message=_("This patient already has a follow-up on this date."),
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(vital_status="DEAD"),
                name="follow_up_one_death_per_patient",
                violation_error_message=_("This patient's death is already recorded."),
            ),
            models.CheckConstraint(
                condition=(Q(vital_status="DEAD") & Q(death_date__isnull=False) & ~Q(cause_of_death=""))
                | (Q(vital_status="ALIVE") & Q(death_date__isnull=True) & Q(cause_of_death="")),
                name="follow_up_death_fields_match_status",
                violation_error_message=_("A death needs its date and cause; a living patient has neither."),
            ),
            models.CheckConstraint(
                condition=Q(death_date__isnull=True) | Q(death_date__lte=F("contact_date")),
                name="follow_up_death_not_after_contact",
                violation_error_message=_("The date of death must not be after the date of contact."),
            ),
        ]

    def __str__(self):
        return gettext("%(patient)s: %(status)s on %(date)s") % {
            "patient": self.patient,
            "status": self.get_vital_status_display(),
            "date": self.contact_date,
        }

    def validate_record(self):
        errors = {}
        if self.vital_status == VitalStatus.DEAD:
            if not self.death_date:
                errors["death_date"] = _("A death needs its date.")
            if not self.cause_of_death:
                errors["cause_of_death"] = _("A death needs its cause (use Unknown if it is not known).")
        elif self.vital_status == VitalStatus.ALIVE:
            if self.death_date:
                errors["death_date"] = _("A living patient has no date of death.")
            if self.cause_of_death:
                errors["cause_of_death"] = _("A living patient has no cause of death.")
        if self.death_date and self.contact_date and self.death_date > self.contact_date:
            errors["death_date"] = _("The date of death must not be after the date of contact.")
        if self.contact_date and self.contact_date > date.today():
            errors["contact_date"] = _("This date is in the future.")
        if errors:
            raise ValidationError(errors)


CLINICAL_MODELS = (Patient, FirstLineResponse, Relapse, SalvageLine, Transplant, FollowUp)


from .revision import DataRevision  # noqa: E402, F401  (the analysis data's revision)
from .trail import AuditCheck, TrailHead  # noqa: E402, F401  (the hash chain's models)
from .transfer.models import ExportLog, ImportJob  # noqa: E402, F401  (imports and exports)
