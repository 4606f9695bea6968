"""The de-identified analysis data set: its tables and variables (part of the data dictionary).

``ANALYSIS_VARIABLES`` is the one-row-per-patient table; ``ANALYSIS_TABLES`` adds one table per
event type, keyed by pseudonym. No dates anywhere: ages and intervals are whole days from the
date of diagnosis. Labels and coded values come from ``registry.choices``; the values come from
``registry.course`` (see ``registry.transfer.exports.analysis_set``). ``registry.transfer.data_dictionary``
re-exports everything here and renders it into docs/data-dictionary.md.
"""

from dataclasses import dataclass, field

from .. import choices as C

# The kinds of value a dictionary column holds (import sheets and analysis variables alike).
TEXT, DATE, DECIMAL, INTEGER, BOOLEAN, CODE = "text", "date", "decimal", "integer", "boolean", "code"


@dataclass(frozen=True)
class Variable:
    """A variable of the de-identified analysis data set."""

    name: str
    label: str
    kind: str  # text, code, integer (days, counts), decimal, boolean (0/1)
    description: str = ""
    codes: type | None = None
    values: tuple = field(default=())  # (code, label) pairs when codes is not a TextChoices class

    def value_labels(self):
        """[(registry code, label), ...] in their fixed order."""
        if self.codes is not None:
            return list(self.codes.choices)
        return list(self.values)

    def numeric_codes(self):
        """{registry code: 1-based number} as written to Stata and SPSS."""
        return {code: i for i, (code, _) in enumerate(self.value_labels(), start=1)}


@dataclass(frozen=True)
class AnalysisTable:
    """A table of the de-identified analysis data set (one file or sheet per table)."""

    name: str
    label: str
    description: str
    variables: tuple


V = Variable
_DAYS = "Days from diagnosis; empty if none."
PSEUDONYM = V(
    "pseudonym",
    "Patient pseudonym",
    TEXT,
    "Stable pseudonym of the study ID (HMAC-SHA256 with the registry's pseudonym key); no link to the ID "
    "without that key.",
)
_AFTER = "1 if on or after the first relapse or induction failure (the analyses' second-line rule)."
ANALYSIS_VARIABLES = (
    PSEUDONYM,
    V("trial", "Trial", CODE, values=(("MLL96", "MLL96"), ("MLL98", "MLL98"))),
    V("center", "Center code", TEXT, "Treating center (a hospital, not a person)."),
    V("sex", "Sex", CODE, codes=C.Sex),
    V("age_at_diagnosis_days", "Age at diagnosis (days)", INTEGER),
    V("registration_days", "Diagnosis to registration (days)", INTEGER),
    V("wbc", "WBC at diagnosis (x10^9/L)", DECIMAL),
    V("cns_status", "CNS status", CODE, codes=C.CNSStatus),
    V("immunophenotype", "Immunophenotype", CODE, codes=C.Immunophenotype),
    V("prednisone_response", "Prednisone response", CODE, codes=C.PrednisoneResponse),
    V("mll_partner", "MLL partner gene", CODE, codes=C.MLLPartner),
    V("mll_detection_method", "MLL rearrangement detected by", CODE, codes=C.DetectionMethod),
    V("first_line_outcome", "First-line outcome", CODE, "Empty if not yet recorded.", codes=C.FirstLineOutcome),
    V("first_line_days", "Diagnosis to CR1 or induction failure (days)", INTEGER, _DAYS),
    V("cr1_days", "Diagnosis to CR1 (days)", INTEGER, _DAYS),
    V("induction_failure_days", "Diagnosis to induction failure (days)", INTEGER, _DAYS),
    V("n_relapses", "Number of relapses", INTEGER),
    V("relapse1_days", "Diagnosis to first relapse (days)", INTEGER, _DAYS),
    V("relapse1_site", "Site of first relapse", CODE, codes=C.RelapseSite),
    V("first_remission_days", "Duration of first remission (days)", INTEGER, "CR1 to first relapse, if both."),
    V("recurrent_or_refractory", "Recurrent or refractory", BOOLEAN, "1 after a relapse or an induction failure."),
    V("recurrence_days", "Diagnosis to first relapse or induction failure (days)", INTEGER, _DAYS),
    V("n_salvage_lines", "Number of salvage lines", INTEGER, "Every line, also lines before the first recurrence."),
    V(
        "second_line_days",
        "Diagnosis to second-line treatment (days)",
        INTEGER,
        "Start of the first salvage line on or after the first recurrence: the origin of OS after second-line "
        "treatment. " + _DAYS,
    ),
    V(
        "salvage_evaluable",
        "Salvage response evaluable",
        BOOLEAN,
        "1 if a salvage line after the first recurrence has an evaluable response; empty without one.",
    ),
    V("salvage_remission", "Remission after salvage", BOOLEAN, "1 if a line after the first recurrence reached CR."),
    V(
        "salvage_remission_days",
        "Diagnosis to remission after salvage (days)",
        INTEGER,
        "First CR of a salvage line started on or after the first recurrence. " + _DAYS,
    ),
    V("n_transplants", "Number of HSCTs", INTEGER),
    V("hsct1_days", "Diagnosis to first HSCT (days)", INTEGER, "First HSCT at any time. " + _DAYS),
    V("hsct1_status", "First HSCT: disease status", CODE, codes=C.DiseaseStatusAtTransplant),
    V("hsct_after_recurrence", "HSCT after recurrence", BOOLEAN, "1 if transplanted on or after the first recurrence."),
    V(
        "hsct_after_recurrence_days",
        "Diagnosis to HSCT after recurrence (days)",
        INTEGER,
        "First HSCT on or after the first relapse or induction failure (a CR1 transplant does not count). " + _DAYS,
    ),
    V(
        "hsct_after_recurrence_status",
        "HSCT after recurrence: disease status",
        CODE,
        codes=C.DiseaseStatusAtTransplant,
    ),
    V("relapse_after_hsct_days", "Diagnosis to first relapse after the first HSCT (days)", INTEGER, _DAYS),
    V("vital_status", "Vital status", CODE, "DEAD once a death is recorded; else the latest contact's.", C.VitalStatus),
    V("dead", "Dead", BOOLEAN, "1 if a death is recorded."),
    V("death_days", "Diagnosis to death (days)", INTEGER, _DAYS),
    V("cause_of_death", "Cause of death", CODE, codes=C.CauseOfDeath),
    V(
        "last_contact_days",
        "Diagnosis to last known date (days)",
        INTEGER,
        "Latest follow-up contact; without one, the latest recorded date (diagnosis, first-line response, "
        "first relapse, second line, first HSCT, death).",
    ),
    V("end_days", "Diagnosis to end of observation (days)", INTEGER, "Death, else the last known date."),
    V("lost_to_follow_up", "Lost to follow-up", BOOLEAN, "1 if the latest contact says no further contact."),
    V("second_malignancy_days", "Diagnosis to second malignancy (days)", INTEGER, _DAYS),
    V("age_under_3_months", "Age at diagnosis < 3 months", BOOLEAN, "Age at diagnosis < 90 days."),
    V("cns_involvement", "CNS involvement (CNS3)", BOOLEAN),
    V("wbc_100_or_more", "WBC >= 100 x10^9/L", BOOLEAN),
    V("wbc_300_or_more", "WBC >= 300 x10^9/L", BOOLEAN),
    V("partner_af4", "MLL partner AF4", BOOLEAN),
    V(
        "first_remission_group",
        "Duration of first remission (group)",
        TEXT,
        "induction failure, CR1 < 6 months or CR1 >= 6 months (the analyses' factor).",
    ),
    V(
        "relapse_site_group",
        "Site of relapse (group)",
        TEXT,
        "induction failure, isolated marrow or extramedullary involved (the analyses' factor).",
    ),
)
ANALYSIS_TABLES = (
    AnalysisTable(
        "patients",
        "Patients",
        "One row per patient: presenting features, the course facts the analyses use, and the factors.",
        ANALYSIS_VARIABLES,
    ),
    AnalysisTable(
        "first_line_responses",
        "First-line responses",
        "At most one row per patient: CR1 or induction failure.",
        (
            PSEUDONYM,
            V("outcome", "First-line outcome", CODE, codes=C.FirstLineOutcome),
            V("assessment_days", "Diagnosis to CR1 or induction failure (days)", INTEGER, _DAYS),
        ),
    ),
    AnalysisTable(
        "relapses",
        "Relapses",
        "One row per relapse.",
        (
            PSEUDONYM,
            V("relapse_number", "Relapse number", INTEGER, "1 = the first relapse, in date order."),
            V("relapse_days", "Diagnosis to relapse (days)", INTEGER),
            V("site", "Site of relapse", CODE, codes=C.RelapseSite),
        ),
    ),
    AnalysisTable(
        "salvage_lines",
        "Salvage lines",
        "One row per salvage (second-line) regimen: its regimen code; regimen names and agents as entered "
        "(free text) are left out.",
        (
            PSEUDONYM,
            V("line_number", "Salvage line number", INTEGER, "1 = the first line, in order of start."),
            V(
                "regimen_code",
                "Regimen code",
                TEXT,
                "Code of the regimen in the registry's regimen list (docs/vocabularies.md); empty: not coded yet.",
            ),
            V("start_days", "Diagnosis to start of the line (days)", INTEGER),
            V("response", "Response", CODE, codes=C.SalvageResponse),
            V("response_days", "Diagnosis to response assessment (days)", INTEGER, _DAYS),
            V("after_recurrence", "Started after recurrence", BOOLEAN, _AFTER),
        ),
    ),
    AnalysisTable(
        "transplants",
        "Transplants (HSCT)",
        "One row per hematopoietic stem cell transplant, every one (also a transplant in CR1).",
        (
            PSEUDONYM,
            V("transplant_number", "HSCT number", INTEGER, "1 = the first HSCT, in date order."),
            V("transplant_days", "Diagnosis to HSCT (days)", INTEGER),
            V("transplant_type", "Type", CODE, codes=C.TransplantType),
            V("donor", "Donor", CODE, codes=C.Donor),
            V("stem_cell_source", "Stem cell source", CODE, codes=C.StemCellSource),
            V("conditioning", "Conditioning", CODE, codes=C.Conditioning),
            V("conditioning_intensity", "Conditioning intensity", CODE, codes=C.ConditioningIntensity),
            V("disease_status", "Disease status at HSCT", CODE, codes=C.DiseaseStatusAtTransplant),
            V("after_recurrence", "HSCT after recurrence", BOOLEAN, _AFTER),
        ),
    ),
    AnalysisTable(
        "follow_ups",
        "Follow-up contacts",
        "One row per follow-up contact.",
        (
            PSEUDONYM,
            V("contact_number", "Contact number", INTEGER, "1 = the first contact, in date order."),
            V("contact_days", "Diagnosis to contact (days)", INTEGER),
            V("vital_status", "Vital status", CODE, codes=C.VitalStatus),
            V("death_days", "Diagnosis to death (days)", INTEGER, _DAYS),
            V("cause_of_death", "Cause of death", CODE, codes=C.CauseOfDeath),
            V("lost_to_follow_up", "Lost to follow-up", BOOLEAN, "1 if no further contact is expected."),
            V("second_malignancy_days", "Diagnosis to second malignancy (days)", INTEGER, _DAYS),
        ),
    ),
)
ANALYSIS_TABLES_BY_NAME = {t.name: t for t in ANALYSIS_TABLES}
ANALYSIS_VARIABLES_BY_NAME = {v.name: v for v in ANALYSIS_VARIABLES}
