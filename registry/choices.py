"""Coded values of the study, in the study's own words (see docs/domain.md)."""

from django.db import models


class Sex(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"


class CNSStatus(models.TextChoices):
    CNS1 = "CNS1", "CNS1 (no blasts in CSF)"
    CNS2 = "CNS2", "CNS2 (blasts, < 5 WBC/uL)"
    CNS3 = "CNS3", "CNS3 (>= 5 WBC/uL with blasts, or cranial nerve palsy)"
    UNKNOWN = "UNKNOWN", "Unknown"


class Immunophenotype(models.TextChoices):
    PRO_B = "PRO_B", "Pro-B (CD10-negative)"
    COMMON_B = "COMMON_B", "Common / pre-B (CD10-positive)"
    OTHER = "OTHER", "Other"
    UNKNOWN = "UNKNOWN", "Unknown"


class PrednisoneResponse(models.TextChoices):
    GOOD = "GOOD", "Good"
    POOR = "POOR", "Poor"
    UNKNOWN = "UNKNOWN", "Unknown / not assessed"


class MLLPartner(models.TextChoices):
    AF4 = "AF4", "AF4/AFF1 t(4;11)(q21;q23)"
    ENL = "ENL", "ENL/MLLT1 t(11;19)(q23;p13.3)"
    AF9 = "AF9", "AF9/MLLT3 t(9;11)(p22;q23)"
    AF10 = "AF10", "AF10/MLLT10"
    OTHER = "OTHER", "Other partner"
    UNKNOWN = "UNKNOWN", "Unknown partner"


class DetectionMethod(models.TextChoices):
    SOUTHERN_BLOT = "SOUTHERN_BLOT", "Southern blot"
    FISH = "FISH", "FISH"
    RT_PCR = "RT_PCR", "RT-PCR"
    KARYOTYPE = "KARYOTYPE", "Karyotype (11q23)"


class FirstLineOutcome(models.TextChoices):
    COMPLETE_REMISSION = "CR", "Complete remission (CR1)"
    INDUCTION_FAILURE = "INDUCTION_FAILURE", "Induction failure (no CR)"


class RelapseSite(models.TextChoices):
    BONE_MARROW = "BM", "Isolated bone marrow"
    CNS = "CNS", "Isolated CNS"
    TESTIS = "TESTIS", "Testicular"
    COMBINED = "COMBINED", "Combined (marrow + extramedullary)"
    OTHER = "OTHER", "Other"


class SalvageResponse(models.TextChoices):
    COMPLETE_REMISSION = "CR", "Complete remission"
    PARTIAL_RESPONSE = "PR", "Partial response"
    NO_RESPONSE = "NR", "No response"
    NOT_EVALUABLE = "NE", "Not evaluable / unknown"


class TransplantType(models.TextChoices):
    ALLOGENEIC = "ALLO", "Allogeneic"
    AUTOLOGOUS = "AUTO", "Autologous"


class Donor(models.TextChoices):
    MATCHED_SIBLING = "MSD", "Matched sibling"
    MATCHED_UNRELATED = "MUD", "Matched unrelated"
    MISMATCHED_RELATED = "MMRD", "Mismatched related / haploidentical"
    UNRELATED_CORD_BLOOD = "UCB", "Unrelated cord blood"
    AUTOLOGOUS = "AUTO", "Autologous (self)"


class StemCellSource(models.TextChoices):
    BONE_MARROW = "BM", "Bone marrow"
    PERIPHERAL_BLOOD = "PB", "Peripheral blood"
    CORD_BLOOD = "CB", "Cord blood"


class Conditioning(models.TextChoices):
    TBI = "TBI", "TBI-based"
    BUSULFAN = "BU", "Busulfan-based"
    OTHER = "OTHER", "Other"


class ConditioningIntensity(models.TextChoices):
    MYELOABLATIVE = "MAC", "Myeloablative"
    REDUCED = "RIC", "Reduced intensity"


class DiseaseStatusAtTransplant(models.TextChoices):
    CR1 = "CR1", "First complete remission (CR1)"
    CR2_OR_LATER = "CR2+", "Second or later remission (CR2+)"
    NOT_IN_CR = "NOT_CR", "Not in remission"
    UNKNOWN = "UNKNOWN", "Unknown"


class VitalStatus(models.TextChoices):
    ALIVE = "ALIVE", "Alive"
    DEAD = "DEAD", "Dead"


class CauseOfDeath(models.TextChoices):
    LEUKEMIA = "LEUKEMIA", "Leukemia"
    INFECTION = "INFECTION", "Treatment-related: infection"
    GVHD = "GVHD", "Treatment-related: GVHD"
    ORGAN_TOXICITY = "ORGAN_TOXICITY", "Treatment-related: organ toxicity"
    OTHER = "OTHER", "Other"
    UNKNOWN = "UNKNOWN", "Unknown"


class Role(models.TextChoices):
    COORDINATOR = "COORDINATOR", "Study coordinator"
    INVESTIGATOR = "INVESTIGATOR", "Investigator"
    DATA_MANAGER = "DATA_MANAGER", "Data manager / monitor"
    ADMIN = "ADMIN", "Administrator"
