"""A synthetic MLL96/MLL98 cohort shaped like the paper (Pediatr Blood Cancer 2009;52:808-13).

:func:`generate_cohort` turns a seed into plain dicts, one *course* per patient; the same seed
always gives the same cohort. :func:`build_course` turns a course into unsaved model
instances, and :func:`write_validated` / :func:`write_bulk` store them (the
``seed_demo`` command chooses between the two by cohort size); those live in
``registry.demo.seeding``, so this module stays free of the database.

With the default 80 patients the counts are the paper's exactly: 34 relapses after CR1 and 5
induction failures (39 recurrent or refractory); every one of them gets salvage therapy,
15 of the 37 evaluable reach remission (2 not evaluable); 23 transplants after recurrence
(9 in remission, 12 not in remission, 2 unknown); 10 of the 39 are alive 5 years after the
start of second-line therapy, so the 5-year OS after second-line treatment is 10/39 = 25.6%
(SE 7.0%) with no censoring before 5 years. Other sizes keep the same proportions.

The rest is plausible rather than published: first remission lasts a median of 5 months
(0-28), deaths after recurrence are likelier without a salvage remission, under 3 months of
age and with CNS3; some patients are transplanted in CR1 (not counted among the 23);
a few non-recurrent patients die in CR of treatment-related causes; survivors are followed
for a median of about 5.5 years from diagnosis.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from ..choices import (
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
    SalvageResponse,
    Sex,
    StemCellSource,
    TransplantType,
    VitalStatus,
)

DEFAULT_PATIENTS = 80
DEFAULT_SEED = 1995
SOURCE = "command:seed_demo"
REASON = "synthetic demo cohort"
DEMO_PASSWORD = "demo-registry-2026"
DAYS_PER_MONTH = 365.25 / 12
DAYS_PER_YEAR = 365.25
FIVE_YEARS = int(5 * DAYS_PER_YEAR)

# (code, name, relative size): invented hospitals, one or two per region.
CENTERS = [
    ("TKY01", "Tokyo Metropolitan Children's Hospital", 14),
    ("OSK01", "Osaka Children's Medical Center", 12),
    ("NGY01", "Nagoya University Children's Hospital", 10),
    ("KYT01", "Kyoto Prefectural Pediatric Hospital", 9),
    ("FKO01", "Fukuoka Children's Hospital", 9),
    ("SPR01", "Sapporo Pediatric Oncology Center", 8),
    ("SND01", "Sendai Children's Medical Center", 8),
    ("HRS01", "Hiroshima Red Cross Children's Hospital", 8),
    ("KOB01", "Kobe Children's Hospital", 7),
    ("CHB01", "Chiba Children's Hospital", 7),
    ("NGT01", "Niigata Children's Hospital", 5),
]

TRIALS = [("MLL96", date(1995, 12, 1), date(1998, 1, 31)), ("MLL98", date(1998, 2, 1), date(2001, 12, 31))]

# The paper's counts for 80 patients; other cohort sizes keep these proportions.
PAPER = {
    "patients": 80,
    "relapses": 34,
    "induction_failures": 5,
    "salvage_not_evaluable": 2,
    "salvage_remissions": 15,
    "hsct_in_remission": 9,
    "hsct_not_in_remission": 12,
    "hsct_unknown": 2,
    "alive_5y_after_salvage": 10,
    "deaths_in_first_remission": 5,
}

# (regimen as entered, its code in the regimen list (registry.vocabularies), agents as entered)
SALVAGE_REGIMENS = [
    ("FLAG", "FLAG", "fludarabine, cytarabine, G-CSF"),
    ("HD-AraC/VP16", "HDARAC-VP16", "high-dose cytarabine, etoposide"),
    ("MLL98 rescue", "MLL98-RESCUE", "idarubicin, high-dose cytarabine, dexamethasone"),
    ("VPDL re-induction", "VPDL", "vincristine, prednisolone, daunorubicin, L-asparaginase"),
    ("ICE", "ICE", "ifosfamide, carboplatin, etoposide"),
    ("MIT/VP16", "MIT-VP16", "mitoxantrone, etoposide"),
]


def _scaled(n, key, base="patients", total=None):
    """The paper's count ``key`` scaled from ``base`` (the paper's value) to ``n``."""
    return int(round(n * PAPER[key] / (total if total is not None else PAPER[base])))


def _choose(rng, candidates, k, weights=None):
    """``k`` of ``candidates`` (indices) without replacement, favouring larger ``weights``."""
    candidates = np.asarray(candidates, dtype=int)
    k = min(k, len(candidates))
    if k == 0:
        return np.array([], dtype=int)
    p = None
    if weights is not None:
        w = np.asarray(weights, dtype=float)[candidates]
        p = w / w.sum()
    return np.sort(rng.choice(candidates, size=k, replace=False, p=p))


@dataclass
class Plan:
    """What happens to each patient (index into the cohort), decided before any date is drawn."""

    induction_failure: set
    relapse: set
    salvage_remission: set
    salvage_not_evaluable: set
    hsct_in_remission: set
    hsct_not_in_remission: set
    hsct_unknown: set
    dies_within_5y_of_salvage: set
    dies_in_first_remission: set


def _plan(rng, n, age_days, cns3, poor_prednisone, high_wbc):
    """Allocate the paper's outcomes to patients, exactly in number, by plausible risk weights."""
    young = age_days < 90
    recurrence_risk = (1 + young * 1.0) * (1 + cns3 * 1.0) * (1 + poor_prednisone * 0.5) * (1 + high_wbc * 0.3)
    everyone = np.arange(n)
    failures = _choose(rng, everyone, _scaled(n, "induction_failures"), recurrence_risk)
    relapses = _choose(rng, np.setdiff1d(everyone, failures), _scaled(n, "relapses"), recurrence_risk)
    recurrent = np.union1d(failures, relapses)
    n_rr = len(recurrent)
    rr_total = PAPER["relapses"] + PAPER["induction_failures"]

    not_evaluable = _choose(rng, recurrent, _scaled(n_rr, "salvage_not_evaluable", total=rr_total))
    evaluable = np.setdiff1d(recurrent, not_evaluable)
    # Young age and CNS3 make a salvage remission less likely: their effect on survival then
    # runs through the remission, the paper's sole independent factor.
    remission_chance = 1 / ((1 + young * 1.0) * (1 + cns3 * 1.0))
    n_cr = _scaled(len(evaluable), "salvage_remissions", total=rr_total - PAPER["salvage_not_evaluable"])
    remissions = _choose(rng, evaluable, n_cr, remission_chance)
    no_remission = np.setdiff1d(evaluable, remissions)

    # Transplants in remission after recurrence: relapsed patients in CR2 first, then (only if
    # too few) induction failures who reached remission.
    n_hsct_cr = _scaled(n_rr, "hsct_in_remission", total=rr_total)
    hsct_cr = _choose(rng, np.intersect1d(remissions, relapses), n_hsct_cr)
    if len(hsct_cr) < n_hsct_cr:
        rest = np.setdiff1d(remissions, hsct_cr)
        hsct_cr = np.union1d(hsct_cr, _choose(rng, rest, n_hsct_cr - len(hsct_cr)))
    hsct_no_cr = _choose(rng, no_remission, _scaled(n_rr, "hsct_not_in_remission", total=rr_total))
    hsct_unknown = _choose(rng, not_evaluable, _scaled(n_rr, "hsct_unknown", total=rr_total))

    # 5-year OS after second-line treatment: exactly the paper's share stays alive.
    death_risk = np.ones(n) * (1 + young * 0.4) * (1 + cns3 * 0.4)
    death_risk[no_remission] *= 5
    death_risk[not_evaluable] *= 5
    survivors = _scaled(n_rr, "alive_5y_after_salvage", total=rr_total)
    dies = _choose(rng, recurrent, n_rr - survivors, death_risk)

    never_recurrent = np.setdiff1d(everyone, recurrent)
    deaths_in_cr = _choose(rng, never_recurrent, _scaled(n, "deaths_in_first_remission"))
    return Plan(
        induction_failure=set(failures.tolist()),
        relapse=set(relapses.tolist()),
        salvage_remission=set(remissions.tolist()),
        salvage_not_evaluable=set(not_evaluable.tolist()),
        hsct_in_remission=set(hsct_cr.tolist()),
        hsct_not_in_remission=set(hsct_no_cr.tolist()),
        hsct_unknown=set(hsct_unknown.tolist()),
        dies_within_5y_of_salvage=set(dies.tolist()),
        dies_in_first_remission=set(deaths_in_cr.tolist()),
    )


class _Draw:
    """Categorical draws by cumulative weights (much faster than ``Generator.choice`` per call)."""

    def __init__(self, rng):
        self.rng = rng

    def pick(self, table):
        options, cumulative = table
        return options[int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right"))]

    def days(self, low, high):
        return timedelta(days=int(self.rng.integers(low, high + 1)))

    def chance(self, p):
        return self.rng.random() < p


def _table(pairs):
    options = [value for value, _ in pairs]
    return options, np.cumsum([weight for _, weight in pairs], dtype=float)


SEX = _table([(Sex.FEMALE, 55), (Sex.MALE, 45)])
CNS = _table([(CNSStatus.CNS1, 72), (CNSStatus.CNS2, 12), (CNSStatus.CNS3, 12), (CNSStatus.UNKNOWN, 4)])
IMMUNOPHENOTYPE = _table(
    [
        (Immunophenotype.PRO_B, 82),
        (Immunophenotype.COMMON_B, 5),
        (Immunophenotype.OTHER, 9),
        (Immunophenotype.UNKNOWN, 4),
    ]
)
PREDNISONE = _table([(PrednisoneResponse.GOOD, 55), (PrednisoneResponse.POOR, 40), (PrednisoneResponse.UNKNOWN, 5)])
PARTNER = _table(
    [
        (MLLPartner.AF4, 50),
        (MLLPartner.ENL, 20),
        (MLLPartner.AF9, 12),
        (MLLPartner.AF10, 5),
        (MLLPartner.OTHER, 8),
        (MLLPartner.UNKNOWN, 5),
    ]
)
DETECTION = _table(
    [
        (DetectionMethod.SOUTHERN_BLOT, 35),
        (DetectionMethod.FISH, 35),
        (DetectionMethod.RT_PCR, 25),
        (DetectionMethod.KARYOTYPE, 5),
    ]
)
RELAPSE_SITE = _table(
    [
        (RelapseSite.BONE_MARROW, 66),
        (RelapseSite.COMBINED, 15),
        (RelapseSite.CNS, 12),
        (RelapseSite.TESTIS, 3),
        (RelapseSite.OTHER, 4),
    ]
)
ALLO_DONOR = _table(
    [
        (Donor.UNRELATED_CORD_BLOOD, 40),
        (Donor.MATCHED_UNRELATED, 25),
        (Donor.MISMATCHED_RELATED, 20),
        (Donor.MATCHED_SIBLING, 15),
    ]
)
SOURCE_FOR_DONOR = {
    Donor.UNRELATED_CORD_BLOOD: _table([(StemCellSource.CORD_BLOOD, 1)]),
    Donor.MATCHED_UNRELATED: _table([(StemCellSource.BONE_MARROW, 1)]),
    Donor.MATCHED_SIBLING: _table([(StemCellSource.BONE_MARROW, 70), (StemCellSource.PERIPHERAL_BLOOD, 30)]),
    Donor.MISMATCHED_RELATED: _table([(StemCellSource.PERIPHERAL_BLOOD, 60), (StemCellSource.BONE_MARROW, 40)]),
    Donor.AUTOLOGOUS: _table([(StemCellSource.PERIPHERAL_BLOOD, 1)]),
}
CONDITIONING = _table([(Conditioning.TBI, 50), (Conditioning.BUSULFAN, 40), (Conditioning.OTHER, 10)])
NO_REMISSION = _table([(SalvageResponse.NO_RESPONSE, 65), (SalvageResponse.PARTIAL_RESPONSE, 35)])
DEATH_AFTER_RECURRENCE = _table(
    [
        (CauseOfDeath.LEUKEMIA, 80),
        (CauseOfDeath.INFECTION, 9),
        (CauseOfDeath.ORGAN_TOXICITY, 6),
        (CauseOfDeath.OTHER, 2),
        (CauseOfDeath.UNKNOWN, 3),
    ]
)
DEATH_AFTER_HSCT = _table([(CauseOfDeath.INFECTION, 40), (CauseOfDeath.GVHD, 35), (CauseOfDeath.ORGAN_TOXICITY, 25)])
DEATH_IN_REMISSION = _table([(CauseOfDeath.INFECTION, 60), (CauseOfDeath.ORGAN_TOXICITY, 30), (CauseOfDeath.OTHER, 10)])


def _first_remission_months(rng, k):
    """``k`` CR1 durations (months): log-normal, median 5, stratified so the median is kept, 0-28."""
    from statistics import NormalDist

    if k == 0:
        return np.array([])
    quantiles = (np.arange(k) + rng.uniform(0.05, 0.95, size=k)) / k
    z = np.array([NormalDist().inv_cdf(q) for q in quantiles])
    months = np.clip(5.0 * np.exp(0.95 * z), 0.2, 28.0)
    return rng.permutation(months)


def generate_cohort(n=DEFAULT_PATIENTS, seed=DEFAULT_SEED):
    """``n`` synthetic patient courses as plain dicts; the same ``seed`` gives the same cohort.

    Each course is ``{"patient": {...}, "first_line": {...}, "relapses": [...],
    "salvage_lines": [...], "transplants": [...], "follow_ups": [...]}`` with field values as
    the models store them, and ``center``/``trial`` as codes.
    """
    if n < 1:
        raise ValueError("A cohort needs at least one patient.")
    rng = np.random.default_rng(seed)
    draw = _Draw(rng)

    # Registration over both trials' windows, in date order, so study IDs follow registration.
    opened, closed = TRIALS[0][1], TRIALS[-1][2]
    offsets = np.sort(rng.integers(0, (closed - opened).days + 1, size=n))
    registered = [opened + timedelta(days=int(d)) for d in offsets]
    trial_codes = [next(code for code, start, end in TRIALS if start <= day <= end) for day in registered]
    width = max(4, len(str(max(trial_codes.count(code) for code, _, _ in TRIALS))))
    counters = dict.fromkeys((code for code, _, _ in TRIALS), 0)
    study_ids = []
    for code in trial_codes:
        counters[code] += 1
        study_ids.append(f"{code}-{counters[code]:0{width}d}")

    center_weights = np.array([size for _, _, size in CENTERS], dtype=float)
    center_of = rng.choice(len(CENTERS), size=n, p=center_weights / center_weights.sum())
    age_days = np.clip((364 * rng.beta(1.6, 2.6, size=n)).astype(int), 5, 364)
    wbc = np.clip(np.round(rng.lognormal(np.log(120), 1.1, size=n), 1), 1.0, 2000.0)
    cns = [draw.pick(CNS) for _ in range(n)]
    prednisone = [draw.pick(PREDNISONE) for _ in range(n)]
    cns3 = np.array([c == CNSStatus.CNS3 for c in cns])
    poor = np.array([p == PrednisoneResponse.POOR for p in prednisone])

    plan = _plan(rng, n, age_days, cns3, poor, wbc >= 300)
    relapsing = sorted(plan.relapse)
    cr1_months = dict(zip(relapsing, _first_remission_months(rng, len(relapsing)), strict=True))

    courses = []
    for i in range(n):
        diagnosis = registered[i] - draw.days(0, 7)
        patient = {
            "study_id": study_ids[i],
            "center": CENTERS[center_of[i]][0],
            "trial": trial_codes[i],
            "registration_date": registered[i],
            "sex": draw.pick(SEX),
            "date_of_birth": diagnosis - timedelta(days=int(age_days[i])),
            "diagnosis_date": diagnosis,
            "wbc": Decimal(f"{wbc[i]:.1f}"),
            "cns_status": cns[i],
            "immunophenotype": draw.pick(IMMUNOPHENOTYPE),
            "prednisone_response": prednisone[i],
            "mll_partner": draw.pick(PARTNER),
            "mll_detection_method": draw.pick(DETECTION),
        }
        courses.append(_course(draw, i, patient, plan, cr1_months.get(i)))
    return courses


def _course(draw, i, patient, plan, cr1_months):
    """The dated events of patient ``i`` following ``plan``."""
    dx = patient["diagnosis_date"]
    course = {
        "patient": patient,
        "first_line": None,
        "relapses": [],
        "salvage_lines": [],
        "transplants": [],
        "follow_ups": [],
    }
    recurrence = None
    if i in plan.induction_failure:
        recurrence = dx + draw.days(33, 45)
        course["first_line"] = {"outcome": FirstLineOutcome.INDUCTION_FAILURE, "assessment_date": recurrence}
        cr1 = None
    else:
        cr1 = dx + draw.days(28, 42)
        course["first_line"] = {"outcome": FirstLineOutcome.COMPLETE_REMISSION, "assessment_date": cr1}
        if i in plan.relapse:
            recurrence = cr1 + timedelta(days=max(3, int(round(cr1_months * DAYS_PER_MONTH))))
            course["relapses"].append({"relapse_date": recurrence, "site": draw.pick(RELAPSE_SITE)})

    # MLL98 recommended HSCT in first remission; about 40% of those still in CR1 got one.
    if cr1 is not None and draw.chance(0.4):
        when = cr1 + draw.days(90, 180)
        if recurrence is None or recurrence > when + timedelta(days=30):
            course["transplants"].append(_transplant(draw, when, DiseaseStatusAtTransplant.CR1, allow_autologous=True))

    salvage_start = None
    if recurrence is not None:
        salvage_start = recurrence + draw.days(2, 14)
        _salvage(draw, i, plan, course, salvage_start)

    events = [dx, course["first_line"]["assessment_date"]]
    events += [r["relapse_date"] for r in course["relapses"]]
    events += [s["response_date"] or s["start_date"] for s in course["salvage_lines"]]
    events += [t["transplant_date"] for t in course["transplants"]]
    last_event = max(events)

    death, cause = None, ""
    if i in plan.dies_within_5y_of_salvage:
        death, cause = _death_after_recurrence(draw, i, plan, course, salvage_start, last_event)
    elif i in plan.dies_in_first_remission:
        death = max(cr1 + draw.days(60, 540), last_event + draw.days(20, 200))
        cause = draw.pick(DEATH_AFTER_HSCT if course["transplants"] else DEATH_IN_REMISSION)
    _follow_ups(draw, course, last_event, death, cause, salvage_start)
    return course


def _transplant(draw, when, status, allow_autologous=False):
    if allow_autologous and draw.chance(0.08):
        donor, kind = Donor.AUTOLOGOUS, TransplantType.AUTOLOGOUS
    else:
        donor, kind = draw.pick(ALLO_DONOR), TransplantType.ALLOGENEIC
    reduced = 0.15 if status == DiseaseStatusAtTransplant.CR1 else 0.3
    return {
        "transplant_date": when,
        "transplant_type": kind,
        "donor": donor,
        "stem_cell_source": draw.pick(SOURCE_FOR_DONOR[donor]),
        "conditioning": draw.pick(CONDITIONING),
        "conditioning_intensity": ConditioningIntensity.REDUCED
        if draw.chance(reduced)
        else ConditioningIntensity.MYELOABLATIVE,
        "disease_status": status,
    }


def _salvage(draw, i, plan, course, start):
    """Salvage lines from ``start``, and the transplant after recurrence the plan gives."""
    order = draw.rng.permutation(len(SALVAGE_REGIMENS))
    if i in plan.salvage_not_evaluable:
        responses = [SalvageResponse.NOT_EVALUABLE]
    elif i in plan.salvage_remission:
        responses = [SalvageResponse.COMPLETE_REMISSION]
        if draw.chance(0.3):
            responses.insert(0, draw.pick(NO_REMISSION))
    else:
        responses = [draw.pick(NO_REMISSION) for _ in range(1 + (draw.chance(0.5)) + (draw.chance(0.3)))]
    for number, response in enumerate(responses):
        regimen, code, agents = SALVAGE_REGIMENS[order[number]]
        answered = None if response == SalvageResponse.NOT_EVALUABLE else start + draw.days(21, 42)
        course["salvage_lines"].append(
            {
                "regimen": regimen,
                "regimen_code": code,
                "agents": agents,
                "start_date": start,
                "response": response,
                "response_date": answered,
            }
        )
        start = (answered or start) + draw.days(5, 21)

    last = course["salvage_lines"][-1]
    if i in plan.hsct_in_remission:
        course["transplants"].append(
            _transplant(draw, last["response_date"] + draw.days(21, 90), DiseaseStatusAtTransplant.CR2_OR_LATER)
        )
    elif i in plan.hsct_not_in_remission:
        course["transplants"].append(
            _transplant(draw, last["response_date"] + draw.days(7, 45), DiseaseStatusAtTransplant.NOT_IN_CR)
        )
    elif i in plan.hsct_unknown:
        course["transplants"].append(
            _transplant(draw, last["start_date"] + draw.days(28, 70), DiseaseStatusAtTransplant.UNKNOWN)
        )


def _death_after_recurrence(draw, i, plan, course, salvage_start, last_event):
    """A death within 5 years of second-line therapy: sooner without a salvage remission."""
    median_days = 14 * DAYS_PER_MONTH if i in plan.salvage_remission else 4 * DAYS_PER_MONTH
    rate = np.log(2) / median_days
    horizon = FIVE_YEARS - 30
    # Exponential time truncated to the 5-year horizon (inverse CDF on [0, F(horizon)]).
    u = draw.rng.random() * (1 - np.exp(-rate * horizon))
    death = salvage_start + timedelta(days=int(-np.log1p(-u) / rate))
    death = max(death, last_event + draw.days(3, 60))
    if (death - salvage_start).days >= FIVE_YEARS:
        death = last_event + draw.days(1, 10)
    transplants = [t["transplant_date"] for t in course["transplants"] if t["transplant_date"] >= salvage_start]
    if transplants and (death - max(transplants)).days < 120 and draw.chance(0.5):
        cause = draw.pick(DEATH_AFTER_HSCT)
    else:
        cause = draw.pick(DEATH_AFTER_RECURRENCE)
    return death, cause


def _follow_ups(draw, course, last_event, death, cause, salvage_start):
    """A contact about a year after diagnosis for some, then the last contact or the death."""
    dx = course["patient"]["diagnosis_date"]
    contacts = []
    if death is not None:
        final = {
            "contact_date": death + draw.days(0, 30),
            "vital_status": VitalStatus.DEAD,
            "death_date": death,
            "cause_of_death": cause,
            "lost_to_follow_up": False,
        }
        alive_until = death
    else:
        lost = salvage_start is None and draw.chance(0.05)
        if lost:
            last = dx + draw.days(int(1.5 * DAYS_PER_YEAR), int(4 * DAYS_PER_YEAR))
        else:
            years = float(np.clip(5.0 * np.exp(draw.rng.normal(0, 0.22)), 3.0, 10.0))
            last = dx + timedelta(days=int(years * DAYS_PER_YEAR))
            if salvage_start is not None:  # survivors after recurrence are followed 5 years or more
                last = max(last, salvage_start + timedelta(days=FIVE_YEARS) + draw.days(30, 700))
        last = max(last, last_event + draw.days(30, 120))
        final = {
            "contact_date": last,
            "vital_status": VitalStatus.ALIVE,
            "death_date": None,
            "cause_of_death": "",
            "lost_to_follow_up": lost,
        }
        alive_until = last
    one_year = dx + draw.days(335, 395)
    if draw.chance(0.5) and one_year < alive_until - timedelta(days=30):
        contacts.append(
            {
                "contact_date": one_year,
                "vital_status": VitalStatus.ALIVE,
                "death_date": None,
                "cause_of_death": "",
                "lost_to_follow_up": False,
            }
        )
    contacts.append(final)
    course["follow_ups"] = contacts
