"""registry.services: who may write, reasons, stale versions, and that a refused write leaves no trace."""

import copy
import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from registry import chronology, services
from registry.audit import ReasonRequired
from registry.models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant
from tests.factories import FirstLineResponseFactory, PatientFactory, RelapseFactory, relapsed_course

pytestmark = pytest.mark.django_db


def save(user, record, **kwargs):
    return services.save_record(user=user, record=record, source="test", **kwargs)


def test_coordinator_registers_a_patient_of_their_center(coordinator, center):
    patient = save(coordinator, PatientFactory.build(center=center, study_id="MLL96-0101"))
    assert Patient.objects.get(study_id="MLL96-0101").center == center
    row = patient.history.get()
    assert (row.history_user, row.audit_source, row.history_type) == (coordinator, "test", "+")


def test_coordinator_cannot_register_a_patient_at_another_center(coordinator, other_center):
    with pytest.raises(PermissionDenied):
        save(coordinator, PatientFactory.build(center=other_center))
    assert not Patient.objects.exists()


def test_coordinator_cannot_add_events_to_another_centers_patient(other_coordinator, center):
    patient = PatientFactory(center=center)
    with pytest.raises(PermissionDenied):
        save(other_coordinator, FirstLineResponseFactory.build(patient=patient))


@pytest.mark.parametrize("persona", ["investigator", "center_investigator", "data_manager", "admin_user", "outsider"])
def test_only_coordinators_enter_data(request, persona, center):
    user = request.getfixturevalue(persona)
    with pytest.raises(PermissionDenied):
        save(user, PatientFactory.build(center=center))
    assert not Patient.objects.exists()


def test_coordinator_cannot_move_a_patient_to_another_center(coordinator, center, other_center):
    patient = PatientFactory(center=center)
    patient.center = other_center
    with pytest.raises(PermissionDenied):
        save(coordinator, patient, reason="wrong center")
    assert Patient.objects.get(pk=patient.pk).center == center


def test_locked_patient_is_refused(coordinator, data_manager, center):
    patient = PatientFactory(center=center)
    services.review_patient(user=data_manager, patient=patient, source="test", lock=True, reason="monitoring visit")
    patient.refresh_from_db()
    patient.wbc = 99
    with pytest.raises(PermissionDenied):
        save(coordinator, patient, reason="typo")
    with pytest.raises(PermissionDenied):
        save(coordinator, FirstLineResponseFactory.build(patient=patient))


def test_only_data_managers_review(coordinator, center):
    patient = PatientFactory(center=center)
    with pytest.raises(PermissionDenied):
        services.review_patient(user=coordinator, patient=patient, source="test", verify=True, reason="done")


def test_data_manager_verifies_with_a_reason(data_manager, center):
    patient = PatientFactory(center=center)
    services.review_patient(
        user=data_manager, patient=patient, source="test", verify=True, reason="source data verified"
    )
    patient.refresh_from_db()
    assert patient.verified_by == data_manager and patient.verified_at is not None
    assert patient.history.first().history_change_reason == "source data verified"


@pytest.mark.parametrize("reason", ["", "   "])
def test_update_needs_a_reason(coordinator, center, reason):
    patient = PatientFactory(center=center, wbc=150)
    patient.wbc = 160
    with pytest.raises(ReasonRequired):
        save(coordinator, patient, reason=reason)
    assert Patient.objects.get(pk=patient.pk).wbc == 150
    assert patient.history.count() == 1


def test_update_with_a_reason_is_recorded(coordinator, center):
    patient = PatientFactory(center=center, wbc=150)
    patient.wbc = 160
    save(coordinator, patient, reason="transcription error", expected_version=1)
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.wbc, stored.version) == (160, 2)
    latest = patient.history.first()
    assert (latest.history_type, latest.history_change_reason, latest.history_user) == (
        "~",
        "transcription error",
        coordinator,
    )


def test_stale_version_is_refused(coordinator, center):
    patient = PatientFactory(center=center, wbc=150)
    first, second = Patient.objects.get(pk=patient.pk), Patient.objects.get(pk=patient.pk)
    first.wbc = 160
    save(coordinator, first, reason="correction", expected_version=1)
    second.wbc = 170
    with pytest.raises(services.StaleVersion, match="version 1, now 2"):
        save(coordinator, second, reason="another correction", expected_version=1)
    assert Patient.objects.get(pk=patient.pk).wbc == 160


def test_a_rejected_save_changes_nothing(coordinator, center):
    patient = PatientFactory(center=center)
    FirstLineResponseFactory(patient=patient)
    before = Relapse.history.count()
    bad = RelapseFactory.build(patient=patient, relapse_date=patient.diagnosis_date - timedelta(days=1))
    with pytest.raises(ValidationError):
        save(coordinator, bad)
    assert not Relapse.objects.exists()
    assert Relapse.history.count() == before == 0


def test_a_rejected_update_changes_nothing(coordinator, center):
    patient = PatientFactory(center=center)
    patient.date_of_birth = patient.diagnosis_date - timedelta(days=400)  # not an infant
    with pytest.raises(ValidationError) as caught:
        save(coordinator, patient, reason="correction")
    assert "diagnosis_date" in caught.value.message_dict
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.date_of_birth, stored.version, stored.history.count()) == (PatientFactory.date_of_birth, 1, 1)


def test_events_need_a_saved_patient(coordinator, center):
    patient = PatientFactory.build(center=center)
    with pytest.raises(ValidationError):
        save(coordinator, FirstLineResponseFactory.build(patient=patient))


@pytest.mark.parametrize("persona", ["coordinator", "investigator", "admin_user"])
def test_only_data_managers_delete(request, persona, center):
    patient = PatientFactory(center=center)
    with pytest.raises(PermissionDenied):
        services.delete_record(user=request.getfixturevalue(persona), record=patient, reason="duplicate", source="test")
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_delete_needs_a_reason(data_manager, center):
    patient = PatientFactory(center=center)
    with pytest.raises(ReasonRequired):
        services.delete_record(user=data_manager, record=patient, reason=" ", source="test")
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_data_manager_deletes_with_a_reason_and_the_history_keeps_the_record(data_manager, center):
    patient = PatientFactory(center=center, study_id="MLL96-0042")
    services.delete_record(user=data_manager, record=patient, reason="registered twice", source="test")
    assert not Patient.objects.exists()
    deleted = Patient.history.get(history_type="-")
    assert (deleted.study_id, deleted.history_user, deleted.history_change_reason) == (
        "MLL96-0042",
        data_manager,
        "registered twice",
    )


# --- Bulk writes: save_courses -----------------------------------------------------------------


def new_course(center, study_id, **patient_kwargs):
    """A new patient with CR1 and a relapse, not saved: (CourseWrite, patient, cr1, relapse)."""
    from registry import chronology

    patient = PatientFactory.build(center=center, study_id=study_id, **patient_kwargs)
    cr1 = FirstLineResponseFactory.build(patient=patient)
    relapse = RelapseFactory.build(patient=patient)
    course = chronology.course_of(patient, [cr1, relapse])
    return services.CourseWrite(course, [patient, cr1, relapse]), patient, cr1, relapse


def located(problems):
    """Problems as (record identity, field, kind): unsaved model instances are not hashable."""
    return {(id(p.record), p.field, p.kind) for p in problems}


def save_courses(user, writes, **kwargs):
    return services.save_courses(user=user, writes=writes, source="test:bulk", **kwargs)


def test_bulk_write_creates_courses_with_a_history_row_each(coordinator, center):
    writes = [new_course(center, f"MLL96-{i:04d}")[0] for i in range(1, 4)]
    assert save_courses(coordinator, writes) == 9
    assert Patient.objects.count() == 3 and Relapse.objects.count() == 3
    rows = list(Relapse.history.all()) + list(Patient.history.all())
    assert len(rows) == 6
    assert {(r.history_type, r.history_user, r.audit_source, r.audit_center_id) for r in rows} == {
        ("+", coordinator, "test:bulk", center.pk)
    }
    assert {r.audit_study_id for r in Relapse.history.all()} == {"MLL96-0001", "MLL96-0002", "MLL96-0003"}


def test_bulk_write_is_all_or_nothing_and_locates_each_problem(coordinator, center):
    good, *_ = new_course(center, "MLL96-0001")
    bad, _, cr1, relapse = new_course(center, "MLL96-0002")
    relapse.relapse_date = cr1.assessment_date - timedelta(days=3)  # before CR1
    worse, patient, _, _ = new_course(center, "MLL96-0003", wbc=-5)
    with pytest.raises(services.CoursesInvalid) as caught:
        save_courses(coordinator, [good, bad, worse])
    found = located(caught.value.problems)
    assert (id(relapse), "relapse_date", "chronology") in found
    assert (id(patient), "wbc", "rule") in found
    assert not Patient.objects.exists() and not Patient.history.exists()


def test_bulk_check_reports_the_same_rules_as_a_single_save(coordinator, center):
    """The chronology and the record rules come from the same homes as save_record's full_clean()."""
    write, patient, cr1, relapse = new_course(center, "MLL96-0001")
    relapse.site = "NOWHERE"
    problems = services.check_courses(user=coordinator, writes=[write])
    assert located(problems) == {(id(relapse), "site", "rule")}
    patient.date_of_birth = patient.diagnosis_date - timedelta(days=400)  # not an infant
    problems = services.check_courses(user=coordinator, writes=[write])
    assert (id(patient), "diagnosis_date", "rule") in located(problems)
    assert not Patient.objects.exists()


def test_bulk_write_of_another_centers_patient_is_refused(coordinator, other_center):
    write, *_ = new_course(other_center, "MLL96-0001")
    with pytest.raises(services.CoursesInvalid) as caught:
        save_courses(coordinator, [write])
    assert {p.kind for p in caught.value.problems} == {"permission"}
    assert not Patient.objects.exists()


@pytest.mark.parametrize("persona", ["investigator", "data_manager", "admin_user", "outsider"])
def test_only_coordinators_write_in_bulk(request, persona, center):
    write, *_ = new_course(center, "MLL96-0001")
    problems = services.check_courses(user=request.getfixturevalue(persona), writes=[write])
    assert problems and {p.kind for p in problems} == {"permission"}


def test_bulk_update_needs_a_reason_bumps_versions_and_is_audited(coordinator, center):
    stored = relapsed_course(center=center, wbc=150)
    course = services.load_courses([stored.pk], lock=True)[stored.pk]
    course.patient.wbc = 160
    relapse = course.relapses[0]
    relapse.site = "CNS"
    write = services.CourseWrite(course, [course.patient, relapse])
    with pytest.raises(services.CoursesInvalid) as caught:
        save_courses(coordinator, [write])
    assert {(p.field, p.kind) for p in caught.value.problems} == {("reason", "rule")}
    save_courses(coordinator, [write], reason="source data verification")
    patient = Patient.objects.get(pk=stored.pk)
    assert (patient.wbc, patient.version) == (160, 2)
    assert Relapse.objects.get(pk=relapse.pk).version == 2
    latest = Relapse.history.filter(id=relapse.pk).first()
    assert (latest.history_type, latest.history_change_reason, latest.site) == ("~", "source data verification", "CNS")


def test_bulk_write_to_a_locked_patient_is_refused(coordinator, data_manager, center):
    stored = PatientFactory(center=center)
    services.review_patient(user=data_manager, patient=stored, source="test", lock=True, reason="monitoring visit")
    course = services.load_courses([stored.pk])[stored.pk]
    cr1 = FirstLineResponseFactory.build(patient=course.patient)
    course.first_line = cr1
    problems = services.check_courses(user=coordinator, writes=[services.CourseWrite(course, [cr1])])
    assert located(problems) == {(id(cr1), "", "permission")}


def test_bulk_write_checks_new_events_against_the_stored_course(coordinator, center):
    from registry import chronology

    stored = PatientFactory(center=center)
    FirstLineResponseFactory(patient=stored, outcome="INDUCTION_FAILURE")
    course = services.load_courses([stored.pk])[stored.pk]
    relapse = RelapseFactory.build(patient=course.patient)  # no remission to relapse from
    course = chronology.course_of(course.patient, [*course.events(), relapse])
    problems = services.check_courses(user=coordinator, writes=[services.CourseWrite(course, [relapse])])
    assert located(problems) == {(id(relapse), "relapse_date", "chronology")}


def test_bulk_write_cannot_move_a_patient_to_another_center(coordinator, center, other_center):
    stored = PatientFactory(center=center)
    course = services.load_courses([stored.pk])[stored.pk]
    course.patient.center = other_center
    problems = services.check_courses(
        user=coordinator, writes=[services.CourseWrite(course, [course.patient])], reason="moved"
    )
    assert [p.kind for p in problems] == ["permission"]


# --- The data revision ("analysis data changed") ---------------------------------------------


def revision():
    from registry.models import DataRevision

    return DataRevision.current().revision


def test_one_service_write_moves_the_data_revision_exactly_once(coordinator, data_manager, center):
    before = revision()
    patient = save(coordinator, PatientFactory.build(center=center, study_id="MLL96-0101"))
    assert revision() == before + 1
    patient.wbc = 160
    save(coordinator, patient, reason="source data verification")
    assert revision() == before + 2

    writes = [new_course(center, f"MLL96-{i:04d}")[0] for i in range(1, 4)]  # three tables, nine rows
    assert services.check_courses(user=coordinator, writes=writes) == []
    assert revision() == before + 2  # a dry run changes nothing
    save_courses(coordinator, writes)
    assert revision() == before + 3

    stored = Patient.objects.get(study_id="MLL96-0001")  # with its CR1 and relapse: three deletes
    services.delete_record(user=data_manager, record=stored, reason="registered twice", source="test")
    assert revision() == before + 4


def test_a_refused_write_leaves_the_data_revision_alone(coordinator, other_center):
    before = revision()
    with pytest.raises(PermissionDenied):
        save(coordinator, PatientFactory.build(center=other_center))
    write, *_ = new_course(other_center, "MLL96-0001")
    with pytest.raises(services.CoursesInvalid):
        save_courses(coordinator, [write])
    assert revision() == before


# --- The bulk field checks: each distinct value once, the same refusals as clean_fields ---------

# Per field kind, values clean_fields passes and values it refuses or converts: wrong types,
# decimals with other digits (1.0 equals 1.00, True equals 1), blanks, unknown codes, long text.
_FIELD_VALUES = {
    "DateField": [date(1996, 5, 9), date(1997, 1, 4), datetime(1996, 5, 9, 0, 0), "1996-05-09", "1996-02-30", None, ""],
    "DecimalField": [
        Decimal("150.0"),
        Decimal("150"),
        Decimal("150.00"),
        Decimal("-5"),
        Decimal("5000.1"),
        Decimal("123456.0"),
        Decimal("NaN"),
        Decimal("-0"),
        150,
        150.5,
        True,
        "150.0",
        "x",
        None,
    ],
    "BooleanField": [True, False, 1, 0, "1", None],
    "PositiveIntegerField": [1, 2, True, -1, 2**31, "3", 1.0, None],
    "BigAutoField": [None, 1, 7, -1, "8", True],
    "DateTimeField": [None, datetime(2020, 1, 1, 12, 0), date(2020, 1, 1)],
}


def _text_values(model_field):
    codes = [code for code, _label in model_field.choices or []]
    extra = ["", None, 5, "x" * (model_field.max_length + 1)]
    if codes:
        return codes + [codes[0].lower(), "NOWHERE"] + extra
    if model_field.name == "study_id":
        return ["MLL96-0001", "MLL98-123456", "mll96-0001", "MLL96-12", "TAKAHASHI TARO"] + extra
    if model_field.name == "regimen_code":  # coded from text first (SalvageLine.code_regimen): text only
        return ["FLAG", "flag", "NO-SUCH-REGIMEN", "", None, "x" * 31]
    return ["FLAG", "fludarabine, cytarabine", " "] + extra


def _random_values(model, excluded, rng):
    values = {}
    for model_field in model._meta.concrete_fields:
        if model_field.name in excluded:
            continue
        pool = _FIELD_VALUES.get(model_field.get_internal_type()) or _text_values(model_field)
        # Mostly the first, valid values, so that most records pass and a few refuse.
        values[model_field.attname] = pool[0] if rng.random() < 0.7 else rng.choice(pool)
    return values


# Random values include naive datetimes, which clean_fields converts to aware ones (with Django's warning).
@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime:RuntimeWarning")
def test_bulk_field_checks_refuse_exactly_what_clean_fields_refuses(center):
    """``services._field_doubts`` checks each distinct value once for all records; every record
    whose ``clean_fields`` would refuse (or convert) a value must be handed to ``clean_fields``,
    and every record it passes must be one ``clean_fields`` passes unchanged."""
    rng = random.Random(16)
    writes, records = [], []
    for _number in range(400):
        patient = PatientFactory.build(center=center)
        patient.__dict__.update(_random_values(Patient, services._PATIENT_REFERENCES, rng))
        events = []
        for model in (FirstLineResponse, Relapse, SalvageLine, Transplant, FollowUp):
            event = model(patient=patient)
            event.__dict__.update(_random_values(model, services._EVENT_REFERENCES, rng))
            events.append(event)
        course = chronology.Course(patient=patient)  # the field checks do not read the course
        writes.append(services.CourseWrite(course, [patient, *events]))
        records += [(patient, services._PATIENT_REFERENCES)] + [(e, services._EVENT_REFERENCES) for e in events]
    doubtful = services._field_doubts(writes)

    refused = passed = 0
    for record, excluded in records:
        cleaned = copy.copy(record)
        try:
            cleaned.clean_fields(exclude=excluded)
        except ValidationError:
            refused += 1
            assert id(record) in doubtful, (type(record).__name__, vars(record))
            continue
        # (A salvage line's code is coded from its text by the record's rules in both paths.)
        fields = [f.attname for f in type(record)._meta.concrete_fields if f.name not in excluded | {"regimen_code"}]
        unchanged = all(
            (type(after), after) == (type(before), before)
            for after, before in ((getattr(cleaned, name), getattr(record, name)) for name in fields)
            if not (isinstance(before, Decimal) and before.is_nan())
        )
        if id(record) not in doubtful:
            passed += 1
            assert unchanged, (type(record).__name__, vars(record))
    assert refused > 500 and passed > 300  # both sides are exercised


def test_bulk_field_checks_tell_equal_values_apart_where_the_rules_do(center):
    """1.0 and 1.00 are equal decimals with other decimal places; True equals 1 but is no version."""
    first, second = PatientFactory.build(center=center, wbc=Decimal("150.0")), PatientFactory.build(center=center)
    second.wbc = Decimal("150.00")
    relapse, other = RelapseFactory.build(patient=first), RelapseFactory.build(patient=second)
    other.version = True
    writes = [
        services.CourseWrite(chronology.Course(patient=first), [first, relapse]),
        services.CourseWrite(chronology.Course(patient=second), [second, other]),
    ]
    assert services._field_doubts(writes) == {id(second), id(other)}
    problems = services.check_courses(user=None, writes=writes)
    assert (id(second), "wbc", "rule") in located(problems)
    assert id(first) not in {id(p.record) for p in problems}
