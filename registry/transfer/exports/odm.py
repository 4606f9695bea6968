"""CDISC ODM 1.3.2 (admins only: it carries the study IDs and the dates).

``odm_export`` writes the study metadata of every import sheet (``SHEETS``) and every patient's
records as one Snapshot file; ``validate_odm`` checks a file against the ODM 1.3.2 XML schema
shipped in odmlib. Casebook signatures go in as ``SubjectData/Signature`` with their ``AdminData``;
an invalidated one only as an annotation saying so (``registry.signatures.odm``).
"""

from collections import defaultdict
from datetime import date
from pathlib import Path

from django.utils import timezone

from ...signatures.odm import OdmSignatures
from ...vocabularies.models import Regimen
from ..data_dictionary import BOOLEAN, REGIMEN_CODE_LIST, SHEETS, TRIAL_CODES, code_lists
from .identified import identified_tables

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
ODM_XSD = Path(__import__("odmlib").__file__).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"

_ODM_TYPES = {
    "text": "text",
    "code": "text",
    "date": "date",
    "decimal": "float",
    "integer": "integer",
    "boolean": "boolean",
}


def _oid(*parts):
    return ".".join(p.upper().replace("_", "") for p in parts)


def odm_export(patients):
    """CDISC ODM 1.3.2 (FileType Snapshot): metadata of every sheet, and every patient's records."""
    from lxml import etree

    def el(parent, tag, **attrs):
        return etree.SubElement(parent, f"{{{ODM_NS}}}{tag}", {k: str(v) for k, v in attrs.items()})

    def text(parent, tag, value):
        node = el(parent, tag)
        tt = el(node, "TranslatedText")
        tt.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        tt.text = value
        return node

    now = timezone.now()
    root = etree.Element(f"{{{ODM_NS}}}ODM", nsmap={None: ODM_NS})
    root.attrib.update(
        {
            "FileType": "Snapshot",
            "FileOID": f"MLL.EXPORT.{now:%Y%m%d%H%M%S}",
            "CreationDateTime": now.isoformat(),
            "ODMVersion": "1.3.2",
            "Originator": "MLL96/MLL98 infant ALL registry",
            "SourceSystem": "mll-registry",
        }
    )
    study = el(root, "Study", OID="ST.MLL")
    gv = el(study, "GlobalVariables")
    el(gv, "StudyName").text = "MLL96/MLL98"
    el(gv, "StudyDescription").text = "Infant acute lymphoblastic leukemia with MLL rearrangement (MLL96, MLL98)"
    el(gv, "ProtocolName").text = "MLL96/MLL98"
    mdv = el(study, "MetaDataVersion", OID="MDV.1", Name="Registry data dictionary")
    protocol = el(mdv, "Protocol")
    el(protocol, "StudyEventRef", StudyEventOID="SE.REGISTRY", OrderNumber=1, Mandatory="Yes")
    event = el(mdv, "StudyEventDef", OID="SE.REGISTRY", Name="Registry", Repeating="No", Type="Common")
    for i, sheet in enumerate(SHEETS, start=1):
        el(event, "FormRef", FormOID=_oid("F", sheet.name), OrderNumber=i, Mandatory="Yes" if i == 1 else "No")
    for sheet in SHEETS:
        form = el(mdv, "FormDef", OID=_oid("F", sheet.name), Name=sheet.label, Repeating="No")
        el(form, "ItemGroupRef", ItemGroupOID=_oid("IG", sheet.name), Mandatory="Yes")
    for sheet in SHEETS:
        repeating = "No" if sheet.name in ("patients", "first_line_responses") else "Yes"
        group = el(mdv, "ItemGroupDef", OID=_oid("IG", sheet.name), Name=sheet.label, Repeating=repeating)
        for j, c in enumerate(_odm_columns(sheet), start=1):
            el(
                group,
                "ItemRef",
                ItemOID=_oid("IT", sheet.name, c.name),
                OrderNumber=j,
                Mandatory="Yes" if c.required else "No",
            )
    for sheet in SHEETS:
        for c in _odm_columns(sheet):
            attrs = {"OID": _oid("IT", sheet.name, c.name), "Name": c.name, "DataType": _ODM_TYPES[c.kind]}
            if c.max_length:
                attrs["Length"] = c.max_length
            item = el(mdv, "ItemDef", **attrs)
            text(item, "Description", c.description or c.label)
            text(item, "Question", c.label)
            if c.codes or c.name in ("trial", "regimen_code"):
                name = {"trial": "Trial", "regimen_code": REGIMEN_CODE_LIST}.get(c.name, c.code_list)
                el(item, "CodeListRef", CodeListOID=_oid("CL", name))
    # The regimen codes are rows of the database (registry.vocabularies), retired ones included.
    regimens = list(Regimen.objects.order_by("code").values_list("code", "name"))
    for name, cls in {**code_lists(), "Trial": None, REGIMEN_CODE_LIST: None}.items():
        code_list = el(mdv, "CodeList", OID=_oid("CL", name), Name=name, DataType="text")
        pairs = (
            cls.choices if cls else regimens if name == REGIMEN_CODE_LIST else [(code, code) for code in TRIAL_CODES]
        )
        for code, label in pairs:
            item = el(code_list, "CodeListItem", CodedValue=code)
            text(item, "Decode", str(label))

    signing = OdmSignatures(patients)
    signing.admin_data(el, root, study_oid="ST.MLL", metadata_version_oid="MDV.1", effective_date=now.date())
    clinical = el(root, "ClinicalData", StudyOID="ST.MLL", MetaDataVersionOID="MDV.1")
    tables = identified_tables(patients)
    by_patient = defaultdict(lambda: defaultdict(list))
    for sheet in SHEETS:
        header, rows = tables[sheet.name]
        for row in rows:
            by_patient[row[0]][sheet.name].append(dict(zip(header, row, strict=True)))
    for study_id in sorted(by_patient):
        subject = el(clinical, "SubjectData", SubjectKey=study_id)
        signing.subject(el, subject, study_id)
        sed = el(subject, "StudyEventData", StudyEventOID="SE.REGISTRY")
        for sheet in SHEETS:
            records = by_patient[study_id].get(sheet.name)
            if not records:
                continue
            form = el(sed, "FormData", FormOID=_oid("F", sheet.name))
            for k, record in enumerate(records, start=1):
                attrs = {"ItemGroupOID": _oid("IG", sheet.name)}
                if sheet.name not in ("patients", "first_line_responses"):
                    attrs["ItemGroupRepeatKey"] = str(k)
                group = el(form, "ItemGroupData", **attrs)
                for c in _odm_columns(sheet):
                    value = record[c.name]
                    if value in (None, ""):
                        continue
                    if c.kind == BOOLEAN:
                        value = "true" if value else "false"
                    elif isinstance(value, date):
                        value = value.isoformat()
                    el(group, "ItemData", ItemOID=_oid("IT", sheet.name, c.name), Value=str(value))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True), len(by_patient)


def _odm_columns(sheet):
    # The patient's study ID is the SubjectKey; event item groups do not repeat it.
    return [c for c in sheet.columns if sheet.name == "patients" or c.name != "study_id"]


def validate_odm(content):
    """Errors of ``content`` against the ODM 1.3.2 XML schema shipped in odmlib ([] when valid)."""
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(ODM_XSD)))
    document = etree.fromstring(content)
    if schema.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
