"""Reading signatures where the signed thing is shown: pages (``{% signatures kind obj %}``), the
report PDF (``signatures_lines``) and the ODM export.

Each signature comes with its ``services.status``; the signed content's hash is recomputed once
per object, not once per signature.
"""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from .. import access
from ..cuts.models import DataCut
from ..models import Patient
from . import content
from .models import Kind, Signature
from .services import Status, status


@dataclass(frozen=True)
class ShownSignature:
    signature: Signature
    status: Status


def signatures_of(kind, obj):
    """The signatures of ``obj`` (newest first), each with its status; [] for no object."""
    if obj is None or obj.pk is None:
        return []
    signatures = list(Signature.objects.of(kind, obj.pk))
    if not signatures:
        return []
    current = content.content_hash(kind, obj.pk)
    return [ShownSignature(s, status(s, current_hash=current)) for s in signatures]


def line(shown):
    """One signature as printable text (21 CFR 11.50: printed name, date and time, meaning)."""
    s, state = shown.signature, shown.status
    text = _("Signed by %(name)s (%(username)s) on %(when)s UTC, meaning: %(meaning)s; content SHA-256 %(hash)s") % {
        "name": s.printed_name,
        "username": s.signer.get_username(),
        "when": f"{s.signed_at:%Y-%m-%d %H:%M:%S}",
        "meaning": s.get_meaning_display(),
        "hash": s.content_hash[:16],
    }
    if state.valid:
        return text
    when = f" {state.at:%Y-%m-%d %H:%M:%S} UTC" if state.at else ""
    return text + " - " + _("INVALIDATED%(when)s: %(reason)s") % {"when": when, "reason": state.reason}


def signatures_lines(kind, obj):
    """Printable lines of the signatures of ``obj``: a heading, then one line per signature."""
    shown = signatures_of(kind, obj)
    if not shown:
        return [_("Electronic signatures: none.")]
    return [_("Electronic signatures:")] + [line(s) for s in shown]


def object_for(user, kind, pk):
    """The object a signature of ``kind`` signs, among those ``user`` may see (else 404)."""
    if kind == Kind.CASEBOOK:
        obj = Patient.objects.for_user(user).select_related("center").filter(pk=pk).first()
    elif kind in (Kind.DATA_CUT, Kind.REPORT):
        obj = DataCut.objects.defer("snapshot").select_related("trial").filter(pk=pk).first()
    else:
        obj = None
    if obj is None:
        raise access.OutsideYourCenters()
    return obj


def object_url(kind, obj):
    """Where the signed thing is shown: the patient page, the cut's page, the report at the cut."""
    if kind == Kind.CASEBOOK:
        return reverse("registry:patient-detail", args=[obj.pk])
    if kind == Kind.DATA_CUT:
        return reverse("cuts:detail", args=[obj.pk])
    return reverse("analysis:report") + "?" + urlencode({"cut": obj.pk})
