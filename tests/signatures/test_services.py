"""Signing and invalidation through the services: who may sign, re-authentication (password every
time, the second factor once a session), nothing written on a refusal, every clinical write path
invalidating the casebook's signatures in the trail, and the recomputed hash catching raw SQL."""

from datetime import UTC

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry import access
from registry import services as clinical
from registry.models import Relapse
from registry.security.models import SecurityEvent
from registry.signatures import content, services
from registry.signatures.models import Signature
from tests.factories import PatientFactory, RelapseFactory

from .conftest import sign

pytestmark = pytest.mark.django_db


def test_an_investigator_signs_a_casebook_with_name_time_meaning_and_hash(investigator, patient):
    signature = sign(investigator, patient, meaning="reviewed")
    assert (signature.kind, signature.object_id, signature.label) == ("casebook", patient.pk, "MLL96-0001")
    assert (signature.signer, signature.printed_name, signature.meaning) == (investigator, "Keiko Tanaka", "reviewed")
    assert signature.signed_at.utcoffset().total_seconds() == 0 and signature.signed_at.tzinfo is not None
    assert signature.signed_at.astimezone(UTC) == signature.signed_at
    assert signature.content_hash == content.content_hash("casebook", patient.pk) and len(signature.content_hash) == 64
    assert signature.center_id == patient.center_id
    assert services.status(signature).valid
    row = Signature.history.get(id=signature.pk)
    assert (row.history_type, row.history_user, row.audit_source) == ("+", investigator, "test")
    assert (row.audit_center_id, row.audit_study_id) == (patient.center_id, "MLL96-0001")
    assert "reviewed" in row.history_change_reason


def test_without_a_full_name_the_user_name_is_printed(center_investigator, patient):
    assert sign(center_investigator, patient).printed_name == "site-investigator"


@pytest.mark.parametrize("persona", ["coordinator", "data_manager", "admin_user", "outsider"])
def test_only_investigators_sign(request, persona, patient, cut):
    user = request.getfixturevalue(persona)
    for kind, obj in [("casebook", patient), ("data_cut", cut)]:
        with pytest.raises(access.NotYourRole):
            sign(user, obj, kind=kind)
    assert not Signature.objects.exists()


def test_a_center_investigator_signs_only_casebooks_of_their_center(center_investigator, patient, other_patient):
    sign(center_investigator, patient)
    with pytest.raises(access.NotYourRole):
        sign(center_investigator, other_patient)
    assert list(Signature.objects.values_list("object_id", flat=True)) == [patient.pk]


def test_a_wrong_password_writes_nothing_but_a_security_event(investigator, patient):
    with pytest.raises(ValidationError) as refused:
        sign(investigator, patient, password="not-my-password-at-all")
    assert "password is not correct" in str(refused.value.message_dict["password"])
    assert not Signature.objects.exists() and not Signature.history.exists()
    event = SecurityEvent.objects.get(kind="login_failed")
    assert event.user == investigator
    assert "MLL96-0001" in event.detail


def test_signing_is_blocked_after_too_many_wrong_passwords(investigator, patient, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        with pytest.raises(ValidationError):
            sign(investigator, patient, password="guess")
    with pytest.raises(ValidationError, match="blocked"):
        sign(investigator, patient)  # even the right password
    assert not Signature.objects.exists()


def test_unknown_meanings_and_kinds_are_refused(investigator, patient):
    with pytest.raises(ValidationError, match="means"):
        sign(investigator, patient, meaning="witnessed")
    with pytest.raises(ValidationError):
        sign(investigator, patient, kind="protocol")
    with pytest.raises(ValidationError):
        sign(investigator, patient, kind="data_cut")  # a patient is not a data cut
    assert not Signature.objects.exists()


@pytest.fixture
def authenticator(investigator):
    return TOTPDevice.objects.create(user=investigator, name="authenticator app", confirmed=True)


def code(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_the_second_factor_is_asked_at_the_first_signature_of_a_session(investigator, patient, authenticator):
    session = {}
    with pytest.raises(ValidationError) as missing:
        sign(investigator, patient, session=session)
    assert "otp_token" in missing.value.message_dict
    with pytest.raises(ValidationError) as wrong:
        sign(
            investigator, patient, session=session, otp_token="000000" if code(authenticator) != "000000" else "111111"
        )
    assert "not correct" in str(wrong.value.message_dict["otp_token"])
    assert SecurityEvent.objects.filter(kind="2fa_failed", user=investigator).count() == 1
    assert not Signature.objects.exists()

    authenticator.refresh_from_db()
    authenticator.throttle_reset()  # django-otp slows down the next try after a wrong code
    sign(investigator, patient, session=session, otp_token=code(authenticator))
    assert session[services.SECOND_FACTOR_GIVEN] == investigator.pk
    sign(investigator, patient, session=session, meaning="reviewed")  # the password alone, same session
    assert Signature.objects.count() == 2
    with pytest.raises(ValidationError):
        sign(investigator, patient, session={})  # a new session asks again
    with pytest.raises(ValidationError):
        sign(investigator, patient, session=session, password="wrong")  # the password, every time


def test_without_an_authenticator_the_password_is_enough(investigator, patient):
    assert not services.second_factor_needed(investigator, {})
    sign(investigator, patient, session={})


# --- invalidation by every write path -----------------------------------------------------------


def test_an_edit_through_the_services_invalidates_the_signature_in_the_trail(investigator, coordinator, patient):
    signature = sign(investigator, patient)
    relapse = Relapse.objects.get(patient=patient)
    relapse.site = "CNS"
    clinical.save_record(user=coordinator, record=relapse, source="page", reason="corrected from the marrow report")

    signature.refresh_from_db()
    assert signature.invalidated_at is not None
    assert (
        signature.invalidated_reason == f"relapse #{relapse.pk} saved after signing: corrected from the marrow report"
    )
    state = services.status(signature)
    assert (state.valid, state.reason, state.at) == (False, signature.invalidated_reason, signature.invalidated_at)
    latest = Signature.history.filter(id=signature.pk).order_by("-history_id").first()
    assert (latest.history_type, latest.history_user, latest.audit_source) == ("~", coordinator, "page")
    assert latest.history_change_reason.startswith(f"relapse #{relapse.pk} saved after signing")
    assert latest.invalidated_reason == signature.invalidated_reason


def test_a_new_record_a_deletion_and_a_review_each_invalidate(investigator, coordinator, data_manager, patient):
    first = sign(investigator, patient)
    RelapseFactory(patient=patient, relapse_date=patient.diagnosis_date.replace(year=patient.diagnosis_date.year + 3))
    first.refresh_from_db()
    assert first.invalidated_reason.startswith("relapse #") and "saved after signing" in first.invalidated_reason

    second = sign(investigator, patient)
    relapse = Relapse.objects.filter(patient=patient).order_by("-relapse_date").first()
    relapse_id = relapse.pk
    clinical.delete_record(user=data_manager, record=relapse, reason="entered twice", source="test")
    second.refresh_from_db()
    assert second.invalidated_reason == f"relapse #{relapse_id} deleted after signing: entered twice"

    third = sign(investigator, patient)
    clinical.review_patient(user=data_manager, patient=patient, source="test", lock=True, reason="monitoring visit")
    third.refresh_from_db()
    assert third.invalidated_reason == "casebook verified, locked or unlocked after signing: monitoring visit"


def test_an_edit_of_another_patient_leaves_the_signature_valid(investigator, coordinator, patient, center):
    signature = sign(investigator, patient)
    PatientFactory(center=center, study_id="MLL96-0077")
    signature.refresh_from_db()
    assert signature.invalidated_at is None and services.status(signature).valid


def test_deleting_a_signed_patient_keeps_its_signature_invalidated(investigator, data_manager, patient):
    signature = sign(investigator, patient)
    clinical.delete_record(user=data_manager, record=patient, reason="registered in error", source="test")
    signature.refresh_from_db()
    assert signature.invalidated_reason == "patient MLL96-0001 deleted after signing: registered in error"
    assert signature.label == "MLL96-0001"


def test_a_bulk_write_invalidates_the_signatures_of_the_courses_it_changes(investigator, coordinator, patient):
    signature = sign(investigator, patient)
    course = clinical.load_courses([patient.pk], lock=True)[patient.pk]
    course.patient.wbc = 175
    clinical.save_courses(
        user=coordinator,
        writes=[clinical.CourseWrite(course, [course.patient])],
        source="import:course.xlsx",
        reason="import of the corrected workbook",
    )
    signature.refresh_from_db()
    assert signature.invalidated_reason == (
        "casebook changed by a bulk write (import) after signing: import of the corrected workbook"
    )
    assert Signature.history.filter(id=signature.pk).first().audit_source == "import:course.xlsx"


def test_a_large_bulk_write_invalidates_exactly_the_signed_casebooks_it_changes(
    investigator, patient, other_patient, center
):
    """Past one batch of patients the signed casebooks are read once and matched: the signed
    patient written is invalidated, the signed patient not written stays valid."""
    written = sign(investigator, patient)
    untouched = sign(investigator, other_patient)
    ids = [patient.pk, *range(10**9, 10**9 + services.BATCH + 10)]  # a batch and more of unsigned ids
    assert services.invalidate_for_patients(ids, "import") == 1
    written.refresh_from_db()
    untouched.refresh_from_db()
    assert written.invalidated_reason == "casebook changed by a bulk write (import) after signing: import"
    assert untouched.invalidated_at is None


def test_a_change_below_the_orm_shows_as_content_changed(investigator, patient):
    signature = sign(investigator, patient)
    relapse = Relapse.objects.get(patient=patient)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_relapse SET site = 'CNS' WHERE id = %s", [relapse.pk])
    signature.refresh_from_db()
    assert signature.invalidated_at is None  # nobody told the registry ...
    state = services.status(signature)
    assert (state.valid, state.reason) == (False, "content changed since signing")  # ... the hash tells


def test_an_invalidated_signature_is_never_invalidated_again(investigator, coordinator, patient):
    signature = sign(investigator, patient)
    relapse = Relapse.objects.get(patient=patient)
    for site in ("CNS", "BM"):
        relapse.site = site
        relapse = clinical.save_record(user=coordinator, record=relapse, source="test", reason=f"site {site}")
    signature.refresh_from_db()
    assert signature.invalidated_reason.endswith("site CNS")
    assert Signature.history.filter(id=signature.pk).count() == 2


# --- data cuts and reports at a cut ------------------------------------------------------------


def test_an_investigator_signs_a_data_cut(investigator, cut):
    signature = sign(investigator, cut, kind="data_cut", meaning="approved")
    assert (signature.label, signature.center_id) == (cut.name, None)
    assert content.signed_content("data_cut", cut.pk)["cut"]["fingerprint"] == cut.fingerprint
    assert services.status(signature).valid


def test_a_report_with_no_run_at_the_cut_cannot_be_signed(investigator, cut):
    with pytest.raises(ValidationError, match="No analysis has run"):
        sign(investigator, cut, kind="report")
    assert not services.may_sign(investigator, "report", cut)


def run_at(cut, name="cohort_summary"):
    from analysis import runs
    from analysis.models import AnalysisRun

    run = AnalysisRun.objects.create(name=name, trigger=AnalysisRun.Trigger.COMMAND, parameters={}, data_cut=cut)
    run = runs.execute_run(run.pk)
    assert run.status == "succeeded", run.error
    return run


def test_an_investigator_signs_the_report_at_a_cut_bound_to_its_runs(investigator, cut):
    run = run_at(cut)
    signature = sign(investigator, cut, kind="report", meaning="approved")
    items = content.signed_content("report", cut.pk)["runs"]
    assert [item[:4] for item in items] == [["cohort_summary", run.pk, run.fingerprint, run.code_version]]
    assert items[0][4] == content.sha256(run.results)
    assert services.status(signature).valid
    newer = run_at(cut)  # a newer run at the cut: the report shown is another one
    assert newer.pk != run.pk
    assert services.status(signature).reason == "content changed since signing"


def test_a_center_investigator_cannot_sign_a_report_they_cannot_read(center_investigator, cut):
    run_at(cut)
    with pytest.raises(access.NotYourRole):
        sign(center_investigator, cut, kind="report")
    assert not Signature.objects.exists()
