"""Casebook signatures in the CDISC ODM 1.3.2 export (``registry.transfer.exports.odm``).

ODM says a signature with ``SubjectData/Signature`` (UserRef, LocationRef, SignatureRef,
DateTimeStamp), pointing at ``AdminData``: a ``User`` per signer (login and printed name), a
``Location`` per center (where the casebook is kept) and a ``SignatureDef`` per meaning
(authored, reviewed, approved; Methodology "Electronic").

ODM allows one ``Signature`` per subject, and has no way to mark one invalid. So:

* the newest signature that still stands (``services.status``: not invalidated, content hash
  unchanged) is the subject's ``Signature``;
* every other signature of the casebook (older valid ones, and every invalidated one) is an
  ``Annotation`` whose comment says who signed, when, meaning what, and, for an invalidated one,
  "INVALIDATED" with the time and reason. An invalidated signature is never exported as a
  ``Signature``.
"""

from collections import defaultdict

from django.utils.translation import gettext as _

from ..models import Center
from . import content
from .models import Kind, Meaning, Signature
from .selectors import ShownSignature, line
from .services import status

LEGAL_REASON = "Electronic signature, 21 CFR Part 11: password re-entered at signing, bound to the casebook's SHA-256"


def _oid(*parts):
    return ".".join(str(p).upper().replace("_", "") for p in parts)


class OdmSignatures:
    """The casebook signatures of ``patients`` (a queryset), read once, with their statuses."""

    def __init__(self, patients):
        rows = Signature.objects.filter(kind=Kind.CASEBOOK, object_id__in=patients.values("pk"))
        signatures = list(rows.select_related("signer").order_by("-signed_at", "-pk"))
        signed = {s.object_id for s in signatures}
        books = content.casebooks(signed)
        current = {pk: content.sha256(book) for pk, book in books.items()}
        study_ids = {pk: book["patient"]["study_id"] for pk, book in books.items()}
        self.by_study_id = defaultdict(list)
        for signature in signatures:
            state = status(signature, current_hash=current[signature.object_id])
            self.by_study_id[study_ids[signature.object_id]].append(ShownSignature(signature, state))
        self.centers = {c.pk: c for c in Center.objects.filter(pk__in={s.center_id for s in signatures})}

    def admin_data(self, el, root, *, study_oid, metadata_version_oid, effective_date):
        """``AdminData`` (users, locations, signature meanings) when any casebook is signed."""
        if not self.by_study_id:
            return
        admin = el(root, "AdminData", StudyOID=study_oid)
        signers = {s.signature.signer for v in self.by_study_id.values() for s in v}
        for user in sorted(signers, key=lambda u: u.pk):
            node = el(admin, "User", OID=_oid("USR", user.pk))
            el(node, "LoginName").text = user.get_username()
            el(node, "FullName").text = user.get_full_name().strip() or user.get_username()
        for center in sorted(self.centers.values(), key=lambda c: c.code):
            location = el(admin, "Location", OID=_oid("LOC", center.code), Name=center.name, LocationType="Site")
            el(
                location,
                "MetaDataVersionRef",
                StudyOID=study_oid,
                MetaDataVersionOID=metadata_version_oid,
                EffectiveDate=effective_date.isoformat(),
            )
        for meaning in Meaning:
            definition = el(admin, "SignatureDef", OID=_oid("SD", meaning.value), Methodology="Electronic")
            el(definition, "Meaning").text = meaning.value
            el(definition, "LegalReason").text = LEGAL_REASON

    def subject(self, el, subject, study_id):
        """The subject's ``Signature`` (the newest that stands) and an ``Annotation`` for each other one."""
        shown = self.by_study_id.get(study_id, [])
        standing = next((s for s in shown if s.status.valid), None)
        if standing is not None:
            s = standing.signature
            node = el(subject, "Signature", ID=f"SIG.{s.pk}")
            el(node, "UserRef", UserOID=_oid("USR", s.signer_id))
            el(node, "LocationRef", LocationOID=_oid("LOC", self.centers[s.center_id].code))
            el(node, "SignatureRef", SignatureOID=_oid("SD", s.meaning))
            el(node, "DateTimeStamp").text = s.signed_at.isoformat()
        for seq, other in enumerate((s for s in shown if s is not standing), start=1):
            annotation = el(subject, "Annotation", SeqNum=seq, ID=f"SIG.{other.signature.pk}")
            prefix = _("Older signature") if other.status.valid else _("Invalidated signature, not valid")
            el(annotation, "Comment", SponsorOrSite="Sponsor").text = f"{prefix}: {line(other)}"
