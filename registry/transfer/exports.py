"""Standard exports: the de-identified analysis data set, the identified export, CDISC ODM, the dictionary.

* ``analysis`` (investigators, data managers, admins; scoped by ``for_user``): one row per
  patient, no dates (ages and intervals in days from diagnosis), the study ID replaced by a
  stable pseudonym; CSV, XLSX, SAS transport (XPT v8), Stata (.dta) and SPSS (.sav) with
  variable and value labels from ``registry.transfer.data_dictionary``.
* ``identified`` (admins only): every record in the import layout (XLSX workbook, or a ZIP of
  one CSV per sheet); importing it into an empty registry gives the same export back.
* ``odm`` (admins only): CDISC ODM 1.3.2 XML, study metadata and clinical data.
* ``dictionary`` (every registry role): the data dictionary as Markdown or CSV, and the
  template workbook.

Every download is written to ``ExportLog`` (who, when, which kind and format, how many patients,
the SHA-256 of the bytes). Text that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, tab or carriage return) is prefixed with an apostrophe in CSV and XLSX.
"""

import csv
import hashlib
import hmac
import io
import os
import tempfile
import zipfile
from collections import defaultdict
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from .. import access
from ..choices import Role
from ..models import ExportLog, FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant
from .data_dictionary import (
    ANALYSIS_VARIABLES,
    BOOLEAN,
    CODE,
    DECIMAL,
    INTEGER,
    SHEETS,
    TRIAL_CODES,
    allowed_codes,
    code_lists,
    markdown,
    template_workbook,
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ANALYSIS_FORMATS = ("csv", "xlsx", "xpt", "dta", "sav")
KINDS = {
    "analysis": ANALYSIS_FORMATS,
    "identified": ("xlsx", "zip"),
    "odm": ("xml",),
    "dictionary": ("md", "csv", "xlsx"),
}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xpt": "application/x-sas-xport",
    "dta": "application/x-stata-dta",
    "sav": "application/x-spss-sav",
    "zip": "application/zip",
    "xml": "application/xml",
    "md": "text/markdown; charset=utf-8",
}
ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
ODM_XSD = Path(__import__("odmlib").__file__).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"


class UnknownExport(Exception):
    pass


def can_export(user, kind):
    """Who may download what (see the module docstring)."""
    role = access.role_of(user)
    if role is None:
        return False
    if kind == "dictionary":
        return True
    if kind == "analysis":
        return role in (Role.INVESTIGATOR, Role.DATA_MANAGER, Role.ADMIN)
    return role == Role.ADMIN  # identified data and ODM (which carries the dates)


def available(user):
    """[(kind, formats)] the user may download, for the pages and the API index."""
    return [(kind, formats) for kind, formats in KINDS.items() if can_export(user, kind)]


def pseudonym(study_id):
    """A stable pseudonym: HMAC-SHA256 of the study ID keyed with EXPORT_PSEUDONYM_KEY (else SECRET_KEY)."""
    key = getattr(settings, "EXPORT_PSEUDONYM_KEY", "") or settings.SECRET_KEY
    digest = hmac.new(key.encode(), study_id.encode(), hashlib.sha256).hexdigest()
    return "P" + digest[:16].upper()


def neutralise(value):
    """Prefix text a spreadsheet would evaluate as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


# --- Building the rows ----------------------------------------------------------------------


def _by_patient(model, patients, fields, order):
    rows = defaultdict(list)
    for values in (
        model.objects.filter(patient__in=patients.values("pk"))
        .order_by("patient_id", *order)
        .values("patient_id", *fields)
    ):
        rows[values["patient_id"]].append(values)
    return rows


def _days(later, earlier):
    return (later - earlier).days if later and earlier else None


def analysis_rows(patients):
    """The de-identified data set as a list of dicts, in ``ANALYSIS_VARIABLES`` order, by study ID."""
    base = list(
        patients.order_by("study_id").values(
            "pk",
            "study_id",
            "center__code",
            "trial__code",
            "sex",
            "date_of_birth",
            "diagnosis_date",
            "registration_date",
            "wbc",
            "cns_status",
            "immunophenotype",
            "prednisone_response",
            "mll_partner",
            "mll_detection_method",
        )
    )
    first = {
        r["patient_id"]: r
        for rs in _by_patient(FirstLineResponse, patients, ["outcome", "assessment_date"], []).values()
        for r in rs
    }
    relapses = _by_patient(Relapse, patients, ["relapse_date", "site"], ["relapse_date"])
    salvage = _by_patient(SalvageLine, patients, ["start_date", "response", "response_date"], ["start_date"])
    transplants = _by_patient(
        Transplant,
        patients,
        [
            "transplant_date",
            "transplant_type",
            "donor",
            "stem_cell_source",
            "conditioning",
            "conditioning_intensity",
            "disease_status",
        ],
        ["transplant_date"],
    )
    follow_ups = _by_patient(
        FollowUp,
        patients,
        ["contact_date", "vital_status", "death_date", "cause_of_death", "lost_to_follow_up", "second_malignancy_date"],
        ["contact_date"],
    )
    out = []
    for p in base:
        pk, dx = p["pk"], p["diagnosis_date"]
        fl = first.get(pk)
        rel = relapses.get(pk, [])
        sal = salvage.get(pk, [])
        tx = transplants.get(pk, [])
        fu = follow_ups.get(pk, [])
        cr1 = fl["assessment_date"] if fl and fl["outcome"] == "CR" else None
        remissions = sorted(s["response_date"] for s in sal if s["response"] == "CR" and s["response_date"])
        death = next((f for f in fu if f["vital_status"] == "DEAD"), None)
        malignancies = sorted(f["second_malignancy_date"] for f in fu if f["second_malignancy_date"])
        last = fu[-1] if fu else None
        out.append(
            {
                "pseudonym": pseudonym(p["study_id"]),
                "trial": p["trial__code"],
                "center": p["center__code"],
                "sex": p["sex"],
                "age_at_diagnosis_days": _days(dx, p["date_of_birth"]),
                "registration_days": _days(p["registration_date"], dx),
                "wbc": p["wbc"],
                "cns_status": p["cns_status"],
                "immunophenotype": p["immunophenotype"],
                "prednisone_response": p["prednisone_response"],
                "mll_partner": p["mll_partner"],
                "mll_detection_method": p["mll_detection_method"],
                "first_line_outcome": fl["outcome"] if fl else "",
                "first_line_days": _days(fl["assessment_date"], dx) if fl else None,
                "n_relapses": len(rel),
                "relapse1_days": _days(rel[0]["relapse_date"], dx) if rel else None,
                "relapse1_site": rel[0]["site"] if rel else "",
                "first_remission_days": _days(rel[0]["relapse_date"], cr1) if rel and cr1 else None,
                "n_salvage_lines": len(sal),
                "salvage1_days": _days(sal[0]["start_date"], dx) if sal else None,
                "salvage1_response": sal[0]["response"] if sal else "",
                "salvage_remission": int(bool(remissions)),
                "salvage_remission_days": _days(remissions[0], dx) if remissions else None,
                "n_transplants": len(tx),
                "hsct1_days": _days(tx[0]["transplant_date"], dx) if tx else None,
                "hsct1_type": tx[0]["transplant_type"] if tx else "",
                "hsct1_donor": tx[0]["donor"] if tx else "",
                "hsct1_source": tx[0]["stem_cell_source"] if tx else "",
                "hsct1_conditioning": tx[0]["conditioning"] if tx else "",
                "hsct1_intensity": tx[0]["conditioning_intensity"] if tx else "",
                "hsct1_status": tx[0]["disease_status"] if tx else "",
                "vital_status": death["vital_status"] if death else (last["vital_status"] if last else ""),
                "last_contact_days": _days(last["contact_date"], dx) if last else None,
                "death_days": _days(death["death_date"], dx) if death else None,
                "cause_of_death": death["cause_of_death"] if death else "",
                "lost_to_follow_up": int(bool(last and last["lost_to_follow_up"])),
                "second_malignancy_days": _days(malignancies[0], dx) if malignancies else None,
            }
        )
    return out


def identified_tables(patients):
    """{sheet name: (header, rows)} in the import layout, Python values (dates, Decimals, 0/1)."""
    tables = {}
    patient_columns = SHEETS[0].column_names
    rows = []
    for p in patients.order_by("study_id").values(
        *[c if c not in ("center", "trial") else f"{c}__code" for c in patient_columns]
    ):
        rows.append([p.get(c, p.get(f"{c}__code")) for c in patient_columns])
    tables["patients"] = (patient_columns, rows)
    for sheet in SHEETS[1:]:
        fields = sheet.column_names[1:]
        order = ["patient__study_id", *[k for k in sheet.key[1:]]]
        rows = []
        for values in (
            sheet.model.objects.filter(patient__in=patients.values("pk"))
            .order_by(*order)
            .values_list("patient__study_id", *fields)
        ):
            rows.append([int(v) if isinstance(v, bool) else v for v in values])
        tables[sheet.name] = (sheet.column_names, rows)
    return tables


# --- Writers --------------------------------------------------------------------------------


def _cell_text(value):
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(neutralise(value))


def write_csv(header, rows):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell_text(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def write_xlsx(tables, *, labels=None):
    """An XLSX workbook from {sheet: (header, rows)}: real dates and numbers, neutralised text."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for name, (header, rows) in tables.items():
        ws = wb.create_sheet(name)
        from openpyxl.cell import WriteOnlyCell

        head = []
        for h in header:
            cell = WriteOnlyCell(ws, value=h)
            cell.font = bold
            head.append(cell)
        ws.append(head)
        for row in rows:
            out = []
            for v in row:
                if isinstance(v, date):
                    cell = WriteOnlyCell(ws, value=v)
                    cell.number_format = "yyyy-mm-dd"
                    out.append(cell)
                elif isinstance(v, str):
                    out.append(neutralise(v) if v else None)
                else:
                    out.append(v)
            ws.append(out)
    if labels:
        ws = wb.create_sheet("labels")
        ws.append(["variable", "label"])
        for variable, label in labels.items():
            ws.append([variable, label])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _analysis_frame(rows, *, numeric_codes):
    import pandas as pd

    data = {}
    for v in ANALYSIS_VARIABLES:
        values = [r[v.name] for r in rows]
        if v.kind == CODE and numeric_codes:
            codes = v.numeric_codes()
            data[v.name] = pd.array([codes.get(x) if x else None for x in values], dtype="Float64").astype("float64")
        elif v.kind in (INTEGER, BOOLEAN):
            data[v.name] = pd.Series([float("nan") if x is None else float(x) for x in values], dtype="float64")
        elif v.kind == DECIMAL:
            data[v.name] = pd.Series([float("nan") if x is None else float(x) for x in values], dtype="float64")
        else:
            data[v.name] = pd.Series(["" if x is None else str(x) for x in values], dtype="object")
    return pd.DataFrame(data, columns=[v.name for v in ANALYSIS_VARIABLES])


def _pyreadstat(fmt, rows):
    import pyreadstat

    labels = {v.name: v.label for v in ANALYSIS_VARIABLES}
    numeric = fmt in ("dta", "sav")
    df = _analysis_frame(rows, numeric_codes=numeric)
    value_labels = {
        v.name: {float(i): label[:80] for i, (_, label) in enumerate(v.value_labels(), start=1)}
        for v in ANALYSIS_VARIABLES
        if v.kind == CODE
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"out.{fmt}")
        title = "MLL96/MLL98 de-identified analysis data set"
        if fmt == "xpt":
            pyreadstat.write_xport(
                df, path, file_label=title[:40], column_labels=labels, table_name="MLLANAL", file_format_version=8
            )
        elif fmt == "dta":
            pyreadstat.write_dta(df, path, file_label=title, column_labels=labels, variable_value_labels=value_labels)
        else:
            pyreadstat.write_sav(df, path, file_label=title, column_labels=labels, variable_value_labels=value_labels)
        with open(path, "rb") as f:
            return f.read()


def analysis_export(patients, fmt):
    rows = analysis_rows(patients)
    header = [v.name for v in ANALYSIS_VARIABLES]
    if fmt == "csv":
        return write_csv(header, [[r[h] for h in header] for r in rows]), len(rows)
    if fmt == "xlsx":
        labels = {v.name: v.label for v in ANALYSIS_VARIABLES}
        return write_xlsx({"analysis": (header, [[r[h] for h in header] for r in rows])}, labels=labels), len(rows)
    return _pyreadstat(fmt, rows), len(rows)


def identified_export(patients, fmt):
    tables = identified_tables(patients)
    n = len(tables["patients"][1])
    if fmt == "xlsx":
        return write_xlsx(tables), n
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (header, rows) in tables.items():
            archive.writestr(f"{name}.csv", write_csv(header, rows))
    return buffer.getvalue(), n


def dictionary_export(fmt):
    if fmt == "md":
        return markdown().encode("utf-8"), None
    if fmt == "xlsx":
        return template_workbook(), None
    rows = []
    for sheet in SHEETS:
        for c in sheet.columns:
            rows.append(
                [
                    "import",
                    sheet.name,
                    c.name,
                    c.label,
                    c.kind,
                    int(c.required),
                    c.code_list,
                    " ".join(allowed_codes(c)),
                    c.description,
                ]
            )
    for v in ANALYSIS_VARIABLES:
        codes = " ".join(code for code, _ in v.value_labels())
        rows.append(
            [
                "analysis",
                "analysis",
                v.name,
                v.label,
                v.kind,
                0,
                v.codes.__name__ if v.codes else "",
                codes,
                v.description,
            ]
        )
    header = ["part", "sheet", "name", "label", "type", "required", "code_list", "codes", "description"]
    return write_csv(header, rows), None


# --- CDISC ODM 1.3.2 ------------------------------------------------------------------------

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
            if c.codes or c.name == "trial":
                el(item, "CodeListRef", CodeListOID=_oid("CL", c.code_list or "Trial"))
    for name, cls in {**code_lists(), "Trial": None}.items():
        code_list = el(mdv, "CodeList", OID=_oid("CL", name), Name=name, DataType="text")
        pairs = cls.choices if cls else [(code, code) for code in TRIAL_CODES]
        for code, label in pairs:
            item = el(code_list, "CodeListItem", CodedValue=code)
            text(item, "Decode", str(label))

    clinical = el(root, "ClinicalData", StudyOID="ST.MLL", MetaDataVersionOID="MDV.1")
    tables = identified_tables(patients)
    by_patient = defaultdict(lambda: defaultdict(list))
    for sheet in SHEETS:
        header, rows = tables[sheet.name]
        for row in rows:
            by_patient[row[0]][sheet.name].append(dict(zip(header, row, strict=True)))
    for study_id in sorted(by_patient):
        subject = el(clinical, "SubjectData", SubjectKey=study_id)
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


# --- The one entry point --------------------------------------------------------------------


def export(*, user, kind, fmt, source):
    """(bytes, content type, file name) of one export, after checking the right and logging it.

    Raises ``UnknownExport`` for an unknown kind or format and ``PermissionDenied`` when the
    user may not download it.
    """
    if kind not in KINDS or fmt not in KINDS[kind]:
        raise UnknownExport(f"No export {kind!r} in format {fmt!r}.")
    if not can_export(user, kind):
        raise PermissionDenied("Your role may not download this export.")
    patients = Patient.objects.for_user(user)
    if kind == "analysis":
        content, n = analysis_export(patients, fmt)
    elif kind == "identified":
        content, n = identified_export(patients, fmt)
    elif kind == "odm":
        content, n = odm_export(patients)
    else:
        content, n = dictionary_export(fmt)
    stamp = timezone.now().strftime("%Y%m%d")
    names = {
        "analysis": "mll_analysis",
        "identified": "mll_identified",
        "odm": "mll_odm",
        "dictionary": "mll_data_dictionary" if fmt != "xlsx" else "mll_import_template",
    }
    file_name = f"{names[kind]}_{stamp}.{fmt}"
    ExportLog.objects.create(
        user=user,
        kind=kind,
        file_format=fmt,
        file_name=file_name,
        n_patients=n,
        sha256=hashlib.sha256(content).hexdigest(),
        source=source,
    )
    return content, CONTENT_TYPES[fmt], file_name
