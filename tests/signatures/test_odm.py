"""Casebook signatures in the ODM 1.3.2 export: the newest standing one as SubjectData/Signature
with its AdminData, every other one (older, or invalidated) as an annotation saying so; the file
still validates against the schema."""

import pytest
from lxml import etree

from registry import services as clinical
from registry.models import Patient, Relapse
from registry.transfer import exports

from .conftest import sign

pytestmark = pytest.mark.django_db
NS = {"odm": exports.ODM_NS}


def odm(admin_user):
    content, _type, _name = exports.export(user=admin_user, kind="odm", fmt="xml", source="test")
    assert exports.validate_odm(content) == []
    return etree.fromstring(content)


def subject(document, study_id):
    return document.find(f".//odm:SubjectData[@SubjectKey='{study_id}']", NS)


def test_the_newest_valid_signature_is_the_subjects_signature_and_older_ones_annotations(
    admin_user, investigator, patient, other_patient
):
    older = sign(investigator, patient, meaning="reviewed")
    newest = sign(investigator, patient, meaning="approved")
    document = odm(admin_user)

    signed = subject(document, "MLL96-0001")
    signature = signed.find("odm:Signature", NS)
    assert signature.get("ID") == f"SIG.{newest.pk}"
    assert signature.find("odm:UserRef", NS).get("UserOID") == f"USR.{investigator.pk}"
    assert signature.find("odm:LocationRef", NS).get("LocationOID") == "LOC.TKY01"
    assert signature.find("odm:SignatureRef", NS).get("SignatureOID") == "SD.APPROVED"
    assert signature.find("odm:DateTimeStamp", NS).text == newest.signed_at.isoformat()
    (annotation,) = signed.findall("odm:Annotation", NS)
    assert annotation.get("ID") == f"SIG.{older.pk}"
    assert annotation.find("odm:Comment", NS).text.startswith("Older signature: Signed by Keiko Tanaka")

    admin = document.find("odm:AdminData", NS)
    user = admin.find(f"odm:User[@OID='USR.{investigator.pk}']", NS)
    assert user.find("odm:FullName", NS).text == "Keiko Tanaka"
    assert admin.find("odm:Location[@OID='LOC.TKY01']", NS).get("LocationType") == "Site"
    meanings = [d.find("odm:Meaning", NS).text for d in admin.findall("odm:SignatureDef", NS)]
    assert meanings == ["authored", "reviewed", "approved"]
    assert subject(document, "MLL96-0002").find("odm:Signature", NS) is None


def test_an_invalidated_signature_is_exported_only_as_an_annotation_saying_so(
    admin_user, investigator, coordinator, patient
):
    signature = sign(investigator, patient)
    relapse = Relapse.objects.get(patient=patient)
    relapse.site = "CNS"
    clinical.save_record(user=coordinator, record=relapse, source="test", reason="site per the CSF report")
    signed = subject(odm(admin_user), "MLL96-0001")
    assert signed.find("odm:Signature", NS) is None
    (annotation,) = signed.findall("odm:Annotation", NS)
    assert annotation.get("ID") == f"SIG.{signature.pk}"
    comment = annotation.find("odm:Comment", NS).text
    assert comment.startswith("Invalidated signature, not valid: Signed by Keiko Tanaka")
    assert "INVALIDATED" in comment and "site per the CSF report" in comment


def test_without_signatures_there_is_no_admin_data(admin_user, patient):
    assert odm(admin_user).find("odm:AdminData", NS) is None
    assert Patient.objects.count() == 1
