"""Rules that span a patient's course: the order of events and what may follow a death.

Every clinical record's ``clean()`` calls :func:`check` with itself. The patient's course is
loaded from the database with the candidate record put in place of its stored version, every
rule is evaluated, and the violations that concern the candidate are raised as field-located
``ValidationError``s. The same rule therefore reports on whichever side of a broken order is
being edited: moving a diagnosis after the CR date is refused on ``diagnosis_date``, entering a
CR before the diagnosis is refused on ``assessment_date``.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


@dataclass
class Course:
    patient: object
    first_line: object = None
    relapses: list = field(default_factory=list)
    salvage_lines: list = field(default_factory=list)
    transplants: list = field(default_factory=list)
    follow_ups: list = field(default_factory=list)

    def events(self):
        """Every record of the course but the patient."""
        first = [self.first_line] if self.first_line is not None else []
        return first + self.relapses + self.salvage_lines + self.transplants + self.follow_ups


def course_of(patient, records):
    """The course held in memory: ``patient`` and its event ``records`` (any order), sorted as
    :func:`load_course` sorts them. Raises ``ValueError`` if there are two first-line responses."""
    from .models import FirstLineResponse, FollowUp, Relapse, SalvageLine, Transplant

    by_type = {model: [] for model in (FirstLineResponse, Relapse, SalvageLine, Transplant, FollowUp)}
    for record in records:
        by_type[type(record)].append(record)
    if len(by_type[FirstLineResponse]) > 1:
        raise ValueError(f"{patient}: more than one first-line response")
    return Course(
        patient=patient,
        first_line=(by_type[FirstLineResponse] or [None])[0],
        relapses=sorted(by_type[Relapse], key=_relapse_day),
        salvage_lines=sorted(by_type[SalvageLine], key=_start_day),
        transplants=by_type[Transplant],
        follow_ups=sorted(by_type[FollowUp], key=_contact_day),
    )


def check(record):
    """Raise ``ValidationError`` (by field) if ``record`` breaks the course of its patient."""
    errors = {}
    for rec, field_name, message in violations(load_course(record)):
        if rec is record:
            errors.setdefault(field_name, message)
    if errors:
        raise ValidationError(errors)


def load_course(record):
    """The stored course of ``record``'s patient, with ``record`` in place of its stored version."""
    from .models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant

    patient = record if isinstance(record, Patient) else _patient_of(record)
    course = Course(patient=patient)
    if patient is None:
        return course
    stored = patient.pk is not None

    def siblings(model):
        rows = list(model._base_manager.filter(patient_id=patient.pk)) if stored else []
        if isinstance(record, model):
            rows = [row for row in rows if row.pk != record.pk or record.pk is None] + [record]
        return rows

    first_line = siblings(FirstLineResponse)
    course.first_line = first_line[0] if first_line else None
    course.relapses = sorted(siblings(Relapse), key=_relapse_day)
    course.salvage_lines = sorted(siblings(SalvageLine), key=_start_day)
    course.transplants = siblings(Transplant)
    course.follow_ups = sorted(siblings(FollowUp), key=_contact_day)
    return course


def _patient_of(record):
    if record.patient_id is None:
        return None
    return record.patient


class _Never:
    """Sorts after every date, for records whose date is still missing."""

    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return True


_NEVER = _Never()


# The order of a course's repeating events (a record without its date last).
def _relapse_day(relapse):
    return relapse.relapse_date or _NEVER


def _start_day(line):
    return line.start_date or _NEVER


def _contact_day(follow_up):
    return follow_up.contact_date or _NEVER


@dataclass
class Event:
    """A dated fact of the course: which record and field hold the date, and how to name it.

    ``describe`` gives the name: it is translated only when a broken rule needs it (a bulk
    check looks at hundreds of thousands of events and names a handful).
    """

    day: object
    describe: object
    record: object
    field: str

    @property
    def label(self):
        return self.describe()


def events(course):
    """Every dated clinical event except follow-up contacts and deaths, in no particular order."""
    found = []
    fl = course.first_line
    if fl is not None and fl.assessment_date:
        label = _FIRST_REMISSION if fl.outcome == "CR" else _INDUCTION_FAILURE
        found.append(Event(fl.assessment_date, label.__str__, fl, "assessment_date"))
    for number, relapse in enumerate(course.relapses, start=1):
        if relapse.relapse_date:
            found.append(Event(relapse.relapse_date, _named(_RELAPSE, number=number), relapse, "relapse_date"))
    for line in course.salvage_lines:
        if line.start_date:
            found.append(Event(line.start_date, _named(_SALVAGE_START, regimen=line.regimen), line, "start_date"))
        if line.response_date:
            label = _named(_SALVAGE_RESPONSE, regimen=line.regimen)
            found.append(Event(line.response_date, label, line, "response_date"))
    for transplant in course.transplants:
        if transplant.transplant_date:
            found.append(Event(transplant.transplant_date, _HSCT.__str__, transplant, "transplant_date"))
    for follow_up in course.follow_ups:
        if follow_up.second_malignancy_date:
            label = _SECOND_MALIGNANCY.__str__
            found.append(Event(follow_up.second_malignancy_date, label, follow_up, "second_malignancy_date"))
    return found


_FIRST_REMISSION = gettext_lazy("first complete remission")
_INDUCTION_FAILURE = gettext_lazy("induction failure")
_RELAPSE = gettext_lazy("relapse %(number)d")
_SALVAGE_START = gettext_lazy("start of salvage %(regimen)s")
_SALVAGE_RESPONSE = gettext_lazy("response to salvage %(regimen)s")
_HSCT = gettext_lazy("HSCT")
_SECOND_MALIGNANCY = gettext_lazy("second malignancy")


def _named(template, **values):
    return lambda: str(template) % values


def violations(course):
    """Yield ``(record, field, message)`` for every broken rule of the course."""
    p = course.patient
    dx = p.diagnosis_date
    if p.date_of_birth and dx and p.date_of_birth > dx:
        yield (
            p,
            "date_of_birth",
            _("The date of birth must not be after the date of diagnosis (%(date)s).") % {"date": dx},
        )
        yield (
            p,
            "diagnosis_date",
            _("The date of diagnosis must not be before the date of birth (%(date)s).") % {"date": p.date_of_birth},
        )
    if p.registration_date and dx and p.registration_date < dx:
        yield (
            p,
            "registration_date",
            _("The registration date must not be before the date of diagnosis (%(date)s).") % {"date": dx},
        )

    all_events = events(course)
    for event in all_events:
        if dx and event.day < dx:
            yield (
                event.record,
                event.field,
                _("This date must not be before the date of diagnosis (%(date)s).") % {"date": dx},
            )
            yield (
                p,
                "diagnosis_date",
                _("The date of diagnosis must not be after the %(event)s (%(date)s).")
                % {"event": event.label, "date": event.day},
            )

    yield from _one_per_date(course)
    yield from _relapses_follow_remission(course)
    yield from _salvage_follows_recurrence(course)
    yield from _transplant_status(course)
    yield from _nothing_after_death(course, all_events)
    yield from _last_contact_is_last(course, all_events)


def _one_per_date(course):
    """One relapse, salvage start, transplant or follow-up per patient and date (also a DB constraint)."""
    kinds = (
        (course.relapses, "relapse_date", _SAME_DAY_RELAPSE),
        (course.salvage_lines, "start_date", _SAME_DAY_SALVAGE),
        (course.transplants, "transplant_date", _SAME_DAY_TRANSPLANT),
        (course.follow_ups, "contact_date", _SAME_DAY_FOLLOW_UP),
    )
    for records, field_name, message in kinds:
        if len(records) < 2:
            continue
        seen = {}
        for record in records:
            day = getattr(record, field_name)
            if day is None:
                continue
            if day in seen:
                for rec in (seen[day], record):
                    yield rec, field_name, str(message) % {"date": day}
            seen[day] = record


# Translated when a rule is broken, not for every course checked.
_SAME_DAY_RELAPSE = gettext_lazy("This patient already has a relapse on %(date)s.")
_SAME_DAY_SALVAGE = gettext_lazy("This patient already has a salvage line starting on %(date)s.")
_SAME_DAY_TRANSPLANT = gettext_lazy("This patient already has a transplant on %(date)s.")
_SAME_DAY_FOLLOW_UP = gettext_lazy("This patient already has a follow-up on %(date)s.")


def _relapses_follow_remission(course):
    fl = course.first_line
    remissions = [s.response_date for s in course.salvage_lines if s.response == "CR" and s.response_date]
    if fl is not None and fl.outcome == "CR" and fl.assessment_date:
        remissions.append(fl.assessment_date)
    previous = None
    for number, relapse in enumerate(course.relapses, start=1):
        day = relapse.relapse_date
        if day is None:
            continue
        if fl is None:
            yield relapse, "relapse_date", _("Record the first-line response (CR1) before a relapse.")
        elif not any((previous is None or r > previous) and r <= day for r in remissions):
            if previous:
                message = _(
                    "A relapse must follow a complete remission; none is recorded since relapse %(number)d "
                    "(%(previous)s) on or before %(date)s."
                ) % {"number": number - 1, "previous": previous, "date": day}
            else:
                message = _("A relapse must follow a complete remission; none is recorded on or before %(date)s.") % {
                    "date": day
                }
            yield relapse, "relapse_date", message
        previous = day
    if fl is not None and fl.outcome == "CR" and fl.assessment_date and course.relapses:
        first = course.relapses[0].relapse_date
        if first and fl.assessment_date > first and not any(r <= first for r in remissions if r != fl.assessment_date):
            yield fl, "assessment_date", _("The date of CR1 must not be after relapse 1 (%(date)s).") % {"date": first}


def _salvage_follows_recurrence(course):
    fl = course.first_line
    recurrences = [r.relapse_date for r in course.relapses if r.relapse_date]
    if fl is not None and fl.outcome == "INDUCTION_FAILURE" and fl.assessment_date:
        recurrences.append(fl.assessment_date)
    first = min(recurrences) if recurrences else None
    for line in course.salvage_lines:
        if not line.start_date:
            continue
        if first is None:
            yield line, "start_date", _("Salvage therapy follows a relapse or an induction failure; record that first.")
        elif line.start_date < first:
            yield (
                line,
                "start_date",
                _("Salvage therapy must not start before the first relapse or induction failure (%(date)s).")
                % {"date": first},
            )
            for relapse in course.relapses[:1]:
                if relapse.relapse_date == first:
                    yield (
                        relapse,
                        "relapse_date",
                        _("Relapse 1 must not be after the start of salvage %(regimen)s (%(date)s).")
                        % {"regimen": line.regimen, "date": line.start_date},
                    )
            if fl is not None and fl.assessment_date == first:
                yield (
                    fl,
                    "assessment_date",
                    _("Induction failure must not be after the start of salvage %(regimen)s (%(date)s).")
                    % {"regimen": line.regimen, "date": line.start_date},
                )


def _transplant_status(course):
    for transplant in course.transplants:
        if transplant.disease_status == "CR1" and transplant.transplant_date:
            earlier = [
                r.relapse_date
                for r in course.relapses
                if r.relapse_date and r.relapse_date <= transplant.transplant_date
            ]
            if earlier:
                yield (
                    transplant,
                    "disease_status",
                    _("The patient relapsed on %(date)s, so the status at HSCT cannot be first remission.")
                    % {"date": earlier[0]},
                )
            fl = course.first_line
            if fl is not None and fl.outcome == "INDUCTION_FAILURE":
                yield transplant, "disease_status", _("The patient never reached CR1 (induction failure).")


def _nothing_after_death(course, all_events):
    deaths = [f for f in course.follow_ups if f.vital_status == "DEAD"]
    for extra in deaths[1:]:
        yield (
            extra,
            "vital_status",
            _("This patient's death is already recorded (on %(date)s).") % {"date": deaths[0].death_date},
        )
    if not deaths or not deaths[0].death_date:
        return
    death = deaths[0]
    for event in all_events:
        if event.day > death.death_date:
            yield (
                event.record,
                event.field,
                _("This date is after the patient's death (%(date)s).") % {"date": death.death_date},
            )
            yield (
                death,
                "death_date",
                _("The date of death must not be before the %(event)s (%(date)s).")
                % {"event": event.label, "date": event.day},
            )
    for follow_up in course.follow_ups:
        if follow_up.vital_status == "ALIVE" and follow_up.contact_date and follow_up.contact_date >= death.death_date:
            yield (
                follow_up,
                "vital_status",
                _("The patient died on %(date)s; a later contact cannot report them alive.")
                % {"date": death.death_date},
            )
            yield (
                death,
                "death_date",
                _("The date of death must not be before a contact reporting the patient alive (%(date)s).")
                % {"date": follow_up.contact_date},
            )
    if course.patient.diagnosis_date and death.death_date < course.patient.diagnosis_date:
        yield (
            death,
            "death_date",
            _("The date of death must not be before the date of diagnosis (%(date)s).")
            % {"date": course.patient.diagnosis_date},
        )


def _last_contact_is_last(course, all_events):
    dated = [f for f in course.follow_ups if f.contact_date]
    if not dated:
        return
    last = dated[-1]
    for event in all_events:
        if event.day > last.contact_date:
            yield (
                event.record,
                event.field,
                _("This date is after the last follow-up contact (%(date)s); record a later follow-up first.")
                % {"date": last.contact_date},
            )
            yield (
                last,
                "contact_date",
                _("The last contact must not be before the %(event)s (%(date)s).")
                % {"event": event.label, "date": event.day},
            )
    dx = course.patient.diagnosis_date
    for follow_up in dated:
        if dx and follow_up.contact_date < dx:
            yield (
                follow_up,
                "contact_date",
                _("A follow-up contact must not be before the date of diagnosis (%(date)s).") % {"date": dx},
            )
