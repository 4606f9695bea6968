"""Signing, invalidating and checking electronic signatures.

``sign`` applies the role rule (``registry.access.require_sign``: investigators; casebooks only
of patients of their centers), then asks the signer to prove who they are again (21 CFR 11.200):
the password every time, and, where the user has a confirmed authenticator, its code at the
first signing of a session (the session remembers it was given). A wrong password or code is a
security event and a clear ``ValidationError``, and nothing is signed. The signature is then
written in one transaction, with the patient's (or the cut's) row locked so that no edit slips
between reading the content and binding the signature to its hash.

``invalidate_for_patient`` is called by every clinical write (``registry.services``) inside its
transaction: the patient's valid casebook signatures are marked invalidated, and their history
row says who changed what and why. ``status`` says whether a signature still stands, recomputing
the content hash so that a change below the ORM (raw SQL) shows too.
"""

from dataclasses import dataclass
from datetime import timedelta

import django_otp
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from .. import access
from ..audit import audit_context
from ..cuts.models import DataCut
from ..models import Patient
from ..security import events, twofactor
from . import content
from .models import Kind, Meaning, Signature

SECOND_FACTOR_GIVEN = "signatures_second_factor_user"  # session key: the user whose code was given
FAILURE_WINDOW = timedelta(hours=1)
BATCH = 2000

CONTENT_CHANGED = gettext_lazy("content changed since signing")
PASSWORD_WRONG = gettext_lazy("The password is not correct; nothing was signed.")
CODE_WRONG = gettext_lazy("The code is not correct (or came too soon after a wrong one); nothing was signed.")
CODE_NEEDED = gettext_lazy(
    "Enter the code from your authenticator app (needed at your first signature of this session)."
)
TOO_MANY_FAILURES = gettext_lazy(
    "Too many wrong passwords at signing in the last hour; signing is blocked for your account for an hour."
)
ACTIONS = {
    "saved": gettext_lazy("%(record)s saved after signing"),
    "deleted": gettext_lazy("%(record)s deleted after signing"),
    "reviewed": gettext_lazy("casebook verified, locked or unlocked after signing"),
    "bulk": gettext_lazy("casebook changed by a bulk write (import) after signing"),
}


# --- who may sign what --------------------------------------------------------------------------


def target(kind, obj):
    """``(kind, obj)`` checked: the kind is known and ``obj`` is what it signs (a patient or a data cut)."""
    try:
        kind = Kind(kind)
    except ValueError:
        raise ValidationError({"kind": _("Unknown kind of signed object: %(kind)s.") % {"kind": kind}}) from None
    expected = Patient if kind == Kind.CASEBOOK else DataCut
    if not isinstance(obj, expected) or obj.pk is None:
        raise ValidationError(
            {
                "kind": _("A %(kind)s signature signs a stored %(what)s.")
                % {"kind": kind.label, "what": expected._meta.verbose_name}
            }
        )
    return kind, obj


def require_may_sign(user, kind, obj):
    """Raise unless ``user`` may sign ``obj`` now: ``NotYourRole`` (403) for the role or the
    centers, ``ValidationError`` when there is nothing to sign (a report at a cut without runs)."""
    kind, obj = target(kind, obj)
    access.require_sign(user, obj if kind == Kind.CASEBOOK else None)
    if kind == Kind.REPORT:
        runs = content.report_run_ids(obj)
        if not runs:
            raise ValidationError(
                _("No analysis has run at the data cut “%(name)s” yet: there is no report to sign.")
                % {"name": obj.name}
            )
        # The signer must be able to read every run the report shows (AnalysisRun.objects.for_user).
        readable = set(obj.runs.for_user(user).filter(pk__in=runs.values()).values_list("pk", flat=True))
        if len(readable) < len(runs):
            raise access.NotYourRole(access.SIGN_REFUSED)


def may_sign(user, kind, obj):
    """True when ``user`` may sign ``obj`` now (for showing the Sign button)."""
    try:
        require_may_sign(user, kind, obj)
    except (access.NotYourRole, ValidationError):
        return False
    return True


# --- re-authentication (21 CFR 11.200) ------------------------------------------------------------


def second_factor_needed(user, session=None):
    """True when signing needs the authenticator's code: the user has a confirmed one and has not
    given its code at a signature in this session."""
    given = session is not None and session.get(SECOND_FACTOR_GIVEN) == user.pk
    return twofactor.has_second_factor(user) and not given


def _recent_failures(user):
    since = timezone.now() - FAILURE_WINDOW
    # Failed sign-ins are recorded without a user (only the typed name is known); these have one.
    return events.SecurityEvent.objects.filter(user=user, kind=events.Kind.LOGIN_FAILED, at__gte=since).count()


def _verify_code(user, code):
    code = "".join((code or "").split()).replace("-", "").lower()
    model = TOTPDevice if code.isdigit() and len(code) <= 8 else StaticDevice
    for device in model.objects.devices_for_user(user, confirmed=True):
        if django_otp.verify_token(user, device.persistent_id, code) is not None:
            return True
    return False


def reauthenticate(user, password, otp_token=None, session=None, *, what=""):
    """Check the password (and the code, where needed); on failure record a security event and raise.

    Called before anything is written, outside the signing transaction, so the security event
    stays even though nothing is signed.
    """
    if _recent_failures(user) >= settings.AXES_FAILURE_LIMIT:
        raise ValidationError({"password": TOO_MANY_FAILURES}, code="signing_blocked")
    if not password or not user.check_password(password):
        events.record(
            events.Kind.LOGIN_FAILED,
            user=user,
            detail=_("password refused at electronic signing of %(what)s") % {"what": what},
        )
        raise ValidationError({"password": PASSWORD_WRONG}, code="wrong_password")
    if second_factor_needed(user, session):
        if not (otp_token or "").strip():
            raise ValidationError({"otp_token": CODE_NEEDED}, code="code_needed")
        if not _verify_code(user, otp_token):
            events.record(
                events.Kind.SECOND_FACTOR_FAILED,
                user=user,
                detail=_("code refused at electronic signing of %(what)s") % {"what": what},
            )
            raise ValidationError({"otp_token": CODE_WRONG}, code="wrong_code")
        if session is not None:
            session[SECOND_FACTOR_GIVEN] = user.pk


# --- signing ----------------------------------------------------------------------------------------


def describe(kind, obj):
    """What is signed, in words: "casebook MLL96-0012", "data cut “MLL98 final”", ..."""
    label = obj.study_id if kind == Kind.CASEBOOK else f"“{obj.name}”"
    return f"{Kind(kind).label} {label}"


def printed_name(user):
    """The signer's full name (11.50), else their user name when the account has no name."""
    return user.get_full_name().strip() or user.get_username()


def sign(*, user, kind, obj, meaning, password, otp_token=None, session=None, source):
    """Sign ``obj`` (a ``Patient`` for a casebook, a ``DataCut`` for a data cut or the report at
    it) as ``user`` with ``meaning``; returns the ``Signature``.

    ``session`` (the request's session, or a dict) remembers that the second factor was given;
    without one the code is asked at every signature.
    """
    kind, obj = target(kind, obj)
    if meaning not in Meaning.values:
        raise ValidationError({"meaning": _("Choose what your signature means: authored, reviewed or approved.")})
    require_may_sign(user, kind, obj)
    reauthenticate(user, password, otp_token, session, what=describe(kind, obj))
    with transaction.atomic():
        if kind == Kind.CASEBOOK:
            list(Patient.objects.select_for_update().filter(pk=obj.pk).values_list("pk"))
        else:
            list(DataCut.objects.select_for_update().filter(pk=obj.pk).values_list("pk"))
        signature = Signature(
            kind=kind,
            object_id=obj.pk,
            label=obj.study_id if kind == Kind.CASEBOOK else obj.name,
            center_id=obj.center_id if kind == Kind.CASEBOOK else None,
            signer=user,
            printed_name=printed_name(user),
            meaning=meaning,
            signed_at=timezone.now(),
            content_hash=content.content_hash(kind, obj.pk),
        )
        signature.full_clean()
        reason = _("signed (%(meaning)s)") % {"meaning": Meaning(meaning).label}
        signature._change_reason = reason
        with audit_context(user=user, reason=reason, source=source):
            signature.save()
    return signature


# --- invalidation -----------------------------------------------------------------------------------


def invalidate_for_patient(patient, reason="", *, user=None, source="", record=None, action="saved"):
    """Mark the valid casebook signatures of ``patient`` invalidated: its casebook changed.

    Called by ``registry.services`` inside the writing transaction (``action``: saved, deleted,
    reviewed; a deletion calls it first, while the patient's key is known), with the write's
    ``user``, ``reason`` and ``source``, which the history row of each signature keeps.
    Returns how many were invalidated.
    """
    what = ACTIONS[action] % {"record": _record_words(record)}
    return _invalidate([patient.pk], _why(what, reason), user=user, source=source)


def invalidate_for_patients(patient_ids, reason="", *, user=None, source=""):
    """The same for the patients ``patient_ids`` changed by one bulk write (an import, the demo's
    seeding): one query for the signed casebooks, then one per 2,000 signed patients written."""
    return _invalidate(patient_ids, _why(ACTIONS["bulk"], reason), user=user, source=source)


def _why(what, reason):
    reason = (reason or "").strip()
    return f"{what}: {reason}" if reason else str(what)


def _invalidate(patient_ids, reason, *, user, source):
    ids = {pk for pk in patient_ids if pk is not None}
    valid = Signature.objects.valid().filter(kind=Kind.CASEBOOK)
    if len(ids) > BATCH:
        # A bulk write: the signed casebooks' ids are read in one query and matched here, instead
        # of asking for every written patient (most of whom nobody signed).
        ids &= set(valid.values_list("object_id", flat=True))
    ids = sorted(ids)
    now = timezone.now()
    count = 0
    for begin in range(0, len(ids), BATCH):
        signed = valid.filter(object_id__in=ids[begin : begin + BATCH])
        for signature in signed.order_by("pk"):
            signature.invalidated_at, signature.invalidated_reason = now, reason
            signature._change_reason = reason
            with audit_context(user=user, reason=reason, source=source):
                signature.save(update_fields=["invalidated_at", "invalidated_reason"])
            count += 1
    return count


def _record_words(record):
    if record is None:
        return _("casebook")
    if isinstance(record, Patient):
        return _("patient %(study_id)s") % {"study_id": record.study_id}
    return f"{record._meta.verbose_name} #{record.pk}"


# --- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """Whether a signature stands: ``valid``, else ``reason`` (and ``at``, when it was invalidated)."""

    valid: bool
    reason: str = ""
    at: object = None


def status(signature, *, current_hash=None):
    """Valid, or invalidated (with the stored reason and time). A valid signature whose content's
    hash (recomputed now, or ``current_hash``) differs from the signed one is invalidated too:
    "content changed since signing" (a change the registry did not record, e.g. raw SQL)."""
    if signature.invalidated_at is not None:
        return Status(False, signature.invalidated_reason, signature.invalidated_at)
    if current_hash is None:
        current_hash = content.content_hash(signature.kind, signature.object_id)
    if current_hash != signature.content_hash:
        return Status(False, str(CONTENT_CHANGED))
    return Status(True)
