"""Coded values of the study, in the study's own words (see docs/domain.md)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class CNSStatus(models.TextChoices):
    CNS1 = "CNS1", _("CNS1 (no blasts in CSF)")
    CNS2 = "CNS2", _("CNS2 (blasts, < 5 WBC/uL)")
    CNS3 = "CNS3", _("CNS3 (>= 5 WBC/uL with blasts, or cranial nerve palsy)")
    UNKNOWN = "UNKNOWN", _("Unknown")


class Immunophenotype(models.TextChoices):
    PRO_B = "PRO_B", _("Pro-B (CD10-negative)")
    COMMON_B = "COMMON_B", _("Common / pre-B (CD10-positive)")
    OTHER = "OTHER", _("Other")
    UNKNOWN = "UNKNOWN", _("Unknown")


class PrednisoneResponse(models.TextChoices):
    GOOD = "GOOD", _("Good")
    POOR = "POOR", _("Poor")
    UNKNOWN = "UNKNOWN", _("Unknown / not assessed")


class MLLPartner(models.TextChoices):
    AF4 = "AF4", _("AF4/AFF1 t(4;11)(q21;q23)")
    ENL = "ENL", _("ENL/MLLT1 t(11;19)(q23;p13.3)")
    AF9 = "AF9", _("AF9/MLLT3 t(9;11)(p22;q23)")
    AF10 = "AF10", _("AF10/MLLT10")
    OTHER = "OTHER", _("Other partner")
    UNKNOWN = "UNKNOWN", _("Unknown partner")


class DetectionMethod(models.TextChoices):
    SOUTHERN_BLOT = "SOUTHERN_BLOT", _("Southern blot")
    FISH = "FISH", _("FISH")
    RT_PCR = "RT_PCR", _("RT-PCR")
    KARYOTYPE = "KARYOTYPE", _("Karyotype (11q23)")


class FirstLineOutcome(models.TextChoices):
    COMPLETE_REMISSION = "CR", _("Complete remission (CR1)")
    INDUCTION_FAILURE = "INDUCTION_FAILURE", _("Induction failure (no CR)")


class RelapseSite(models.TextChoices):
    BONE_MARROW = "BM", _("Isolated bone marrow")
    CNS = "CNS", _("Isolated CNS")
    TESTIS = "TESTIS", _("Testicular")
    COMBINED = "COMBINED", _("Combined (marrow + extramedullary)")
    OTHER = "OTHER", _("Other")


class SalvageResponse(models.TextChoices):
    COMPLETE_REMISSION = "CR", _("Complete remission")
    PARTIAL_RESPONSE = "PR", _("Partial response")
    NO_RESPONSE = "NR", _("No response")
    NOT_EVALUABLE = "NE", _("Not evaluable / unknown")


class TransplantType(models.TextChoices):
    ALLOGENEIC = "ALLO", _("Allogeneic")
    AUTOLOGOUS = "AUTO", _("Autologous")


class Donor(models.TextChoices):
    MATCHED_SIBLING = "MSD", _("Matched sibling")
    MATCHED_UNRELATED = "MUD", _("Matched unrelated")
    MISMATCHED_RELATED = "MMRD", _("Mismatched related / haploidentical")
    UNRELATED_CORD_BLOOD = "UCB", _("Unrelated cord blood")
    AUTOLOGOUS = "AUTO", _("Autologous (self)")


class StemCellSource(models.TextChoices):
    BONE_MARROW = "BM", _("Bone marrow")
    PERIPHERAL_BLOOD = "PB", _("Peripheral blood")
    CORD_BLOOD = "CB", _("Cord blood")


class Conditioning(models.TextChoices):
    TBI = "TBI", _("TBI-based")
    BUSULFAN = "BU", _("Busulfan-based")
    OTHER = "OTHER", _("Other")


class ConditioningIntensity(models.TextChoices):
    MYELOABLATIVE = "MAC", _("Myeloablative")
    REDUCED = "RIC", _("Reduced intensity")


class DiseaseStatusAtTransplant(models.TextChoices):
    CR1 = "CR1", _("First complete remission (CR1)")
    CR2_OR_LATER = "CR2+", _("Second or later remission (CR2+)")
    NOT_IN_CR = "NOT_CR", _("Not in remission")
    UNKNOWN = "UNKNOWN", _("Unknown")


class VitalStatus(models.TextChoices):
    ALIVE = "ALIVE", _("Alive")
    DEAD = "DEAD", _("Dead")


class CauseOfDeath(models.TextChoices):
    LEUKEMIA = "LEUKEMIA", _("Leukemia")
    INFECTION = "INFECTION", _("Treatment-related: infection")
    GVHD = "GVHD", _("Treatment-related: GVHD")
    ORGAN_TOXICITY = "ORGAN_TOXICITY", _("Treatment-related: organ toxicity")
    OTHER = "OTHER", _("Other")
    UNKNOWN = "UNKNOWN", _("Unknown")


class Role(models.TextChoices):
    COORDINATOR = "COORDINATOR", _("Study coordinator")
    INVESTIGATOR = "INVESTIGATOR", _("Investigator")
    DATA_MANAGER = "DATA_MANAGER", _("Data manager / monitor")
    ADMIN = "ADMIN", _("Administrator")
