"""Writes of the controlled vocabularies: coding the salvage lines' free-text regimens.

A data manager (or an admin) maps one regimen text, as entered, to a regimen code: the text
becomes a :class:`~registry.vocabularies.models.RegimenAlias` (so the same text entered later is
coded at once) and every uncoded salvage line with that text (case, spacing and full-width forms
aside) gets the code. As every write of clinical data: the role checked (``registry.access``), a
reason required and kept in the audit trail (one history row per line, its version moved), one
transaction with the patients' rows locked, and refused, naming the cut, where a data cut in
force freezes one of those patients. Coding changes no case-report field, so casebook signatures
stay valid.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import access
from ..audit import ReasonRequired, audit_context
from ..cuts.services import FrozenByCut, frozen_trial_ids
from ..models import Patient, SalvageLine
from .models import Regimen, RegimenAlias, code_for_text, forget_cached, normalise


def uncoded_lines():
    """Salvage lines without a regimen code."""
    return SalvageLine.objects.filter(regimen_code="")


@dataclass
class UncodedText:
    """The uncoded salvage lines of one regimen text (its spellings counted), for the data manager's page."""

    key: str
    spellings: Counter = field(default_factory=Counter)
    patients: set = field(default_factory=set)
    suggested: str = ""

    @property
    def text(self):
        return self.spellings.most_common(1)[0][0]

    @property
    def other_spellings(self):
        return sorted(s for s in self.spellings if s != self.text)

    @property
    def n_lines(self):
        return sum(self.spellings.values())

    @property
    def n_patients(self):
        return len(self.patients)


def uncoded_texts():
    """The regimen texts of the uncoded salvage lines, most lines first, with the code a listed
    regimen's name suggests (a regimen added to the list after the lines were entered)."""
    groups = {}
    for text, patient_id in uncoded_lines().values_list("regimen", "patient_id").order_by():
        key = normalise(text)
        group = groups.setdefault(key, UncodedText(key))
        group.spellings[text] += 1
        group.patients.add(patient_id)
    forget_cached()  # the suggestions read the list as it is now
    for group in groups.values():
        group.suggested = code_for_text(group.key)
    return sorted(groups.values(), key=lambda g: (-g.n_lines, g.key))


@transaction.atomic
def code_regimen_text(*, user, text, regimen, reason, source):
    """Map the regimen ``text`` to ``regimen`` (a :class:`Regimen` or its code, active) and give
    that code to every uncoded salvage line with this text. Returns the number of lines coded.

    Raises ``NotYourRole`` for roles other than data manager and admin, ``ReasonRequired`` without
    a reason, ``ValidationError`` for an unknown or inactive code or a text no uncoded line has,
    and :class:`FrozenByCut` if a data cut in force holds one of the lines' patients: then
    nothing is written.
    """
    if user is not None:
        access.require_code_regimens(user)
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("change")
    if not isinstance(regimen, Regimen):
        code = str(regimen or "").strip()
        regimen = Regimen.objects.filter(code__iexact=code).first()
        if regimen is None:
            raise ValidationError(
                {
                    "regimen": _("Unknown regimen code %(code)s: use a code of the registry's regimen list.")
                    % {"code": repr(code)}
                }
            )
    if not regimen.active:
        raise ValidationError(
            {"regimen": _("Regimen %(code)s is inactive; choose an active one.") % {"code": regimen.code}}
        )
    key = normalise(text)
    lines = (
        [
            (pk, patient_id)
            for pk, patient_id, t in uncoded_lines().values_list("pk", "patient_id", "regimen")
            if normalise(t) == key
        ]
        if key
        else []
    )
    if not lines:
        raise ValidationError({"text": _("No uncoded salvage line has the regimen %(text)s.") % {"text": repr(text)}})
    # Lock the patients (as every service writing their course does), then refuse a frozen one.
    patient_ids = sorted({patient_id for _pk, patient_id in lines})
    trials = set(Patient.objects.select_for_update().filter(pk__in=patient_ids).values_list("trial_id", flat=True))
    frozen = frozen_trial_ids()
    for trial_id in sorted(trials, key=str):
        if trial_id in frozen:
            raise FrozenByCut(frozen[trial_id])
    alias = RegimenAlias.objects.filter(text=key).first() or RegimenAlias(text=key, created_by=user)
    alias.regimen = regimen
    alias._history_user = user
    alias._change_reason = reason
    alias.save()
    ids = [pk for pk, _patient_id in lines]
    with audit_context(user=user, reason=reason, source=source):
        count = 0
        for begin in range(0, len(ids), 5000):
            count += (
                uncoded_lines()
                .filter(pk__in=ids[begin : begin + 5000])
                .update(regimen_code=regimen.code, updated_at=timezone.now())
            )
    return count
