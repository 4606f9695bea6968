"""Creating and releasing data cuts, and the freeze every clinical write checks.

``create_cut`` locks the patient rows in the cut's scope (as every clinical write locks its
patient's row, so no write can slip between the copy and the freeze), copies the rows the
analyses read (``registry.cuts.snapshot``) and records the cut; from its commit on,
``refuse_if_frozen`` (called by every write in ``registry.services``) refuses any change to a
record in scope with a message naming the cut, until ``release_cut`` with a reason.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import access
from ..audit import ReasonRequired, audit_context
from ..models import DataRevision, Patient, Trial
from . import snapshot
from .models import DataCut


class FrozenByCut(PermissionDenied):
    """403: the record is in the scope of a data cut in force; its message names the cut."""

    def __init__(self, cut):
        self.cut = cut
        self.message = _(
            "Frozen by the data cut “%(name)s” (%(scope)s, created %(created)s UTC): no record in its scope "
            "can be changed until a data manager releases the cut."
        ) % {"name": cut.name, "scope": cut.scope_label, "created": f"{cut.created_at:%Y-%m-%d %H:%M}"}
        super().__init__(self.message)

    def __str__(self):
        return str(self.message)


def cut_freezing(trial_id):
    """The data cut in force over the patients of ``trial_id``, or None."""
    return DataCut.objects.frozen().covering(trial_id).select_related("trial").order_by("created_at").first()


def refuse_if_frozen(patient):
    """Raise :class:`FrozenByCut` if a data cut in force holds ``patient`` (new or stored)."""
    if patient.trial_id is None:
        return
    cut = cut_freezing(patient.trial_id)
    if cut is not None:
        raise FrozenByCut(cut)


def frozen_trial_ids():
    """{trial id: cut} for every trial a cut in force holds (one query; bulk writes check many patients)."""
    cuts = list(DataCut.objects.frozen().select_related("trial").order_by("-created_at"))
    frozen = {}
    for cut in cuts:
        for trial_id in [cut.trial_id] if cut.trial_id else Trial.objects.values_list("pk", flat=True):
            frozen[trial_id] = cut
    return frozen


@transaction.atomic
def create_cut(*, user, name, trial=None, reason="", source):
    """Freeze the study (``trial=None``) or one trial under the name ``name``; returns the cut."""
    if user is not None:
        access.require_manage_cuts(user)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Name the data cut.")})
    if DataCut.objects.filter(name=name).exists():
        raise ValidationError(
            {"name": _("A data cut named “%(name)s” exists already; choose another name.") % {"name": name}}
        )
    if trial is not None and not isinstance(trial, Trial):
        trial = Trial.objects.filter(code=trial).first() or _unknown_trial(trial)
    in_force = DataCut.objects.frozen()
    if trial is not None:
        in_force = in_force.covering(trial.pk)
    if in_force.exists():
        raise ValidationError(
            {
                "trial": _("The data cut “%(name)s” already freezes these data; release it first.")
                % {"name": in_force.first().name}
            }
        )
    patients = Patient.objects.all() if trial is None else Patient.objects.filter(trial=trial)
    list(patients.select_for_update().values_list("pk"))  # no write to these patients until we commit
    content, fingerprint, n_patients = snapshot.take(patients)
    cut = DataCut(
        name=name,
        trial=trial,
        reason=(reason or "").strip(),
        created_by=user,
        data_revision=DataRevision.current().revision,
        n_patients=n_patients,
        snapshot=content,
        fingerprint=fingerprint,
    )
    cut.full_clean(exclude=["snapshot", "created_by", "released_by"])
    cut._change_reason = cut.reason or _("data cut created")
    with audit_context(user=user, reason=cut._change_reason, source=source):
        cut.save()
    return cut


def _unknown_trial(code):
    codes = ", ".join(Trial.objects.order_by("code").values_list("code", flat=True))
    raise ValidationError({"trial": _("Unknown trial %(code)s; known: %(codes)s.") % {"code": code, "codes": codes}})


@transaction.atomic
def release_cut(*, user, cut, reason, source):
    """Release ``cut`` (the data in its scope can be changed again); the cut and its copy stay."""
    if user is not None:
        access.require_manage_cuts(user)
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("release")
    cut = DataCut.objects.select_for_update().get(pk=cut.pk)
    if not cut.frozen:
        raise ValidationError(_("The data cut “%(name)s” was released already.") % {"name": cut.name})
    cut.released_at, cut.released_by, cut.release_reason = timezone.now(), user, reason
    cut._change_reason = reason
    with audit_context(user=user, reason=reason, source=source):
        cut.save(update_fields=["released_at", "released_by", "release_reason"])
    return cut
