"""Exports: de-identified data set in five formats with labels, identified export, ODM 1.3.2, logging."""

import csv
import io
import os
import tempfile
from pathlib import Path

import pyreadstat
import pytest
from django.core.exceptions import PermissionDenied
from lxml import etree

from registry import services
from registry.models import ExportLog
from registry.transfer import exports
from registry.transfer.data_dictionary import ANALYSIS_VARIABLES, markdown
from tests.factories import PatientFactory, relapsed_course


@pytest.fixture
def cohort(center, other_center):
    own = relapsed_course(PatientFactory(center=center, study_id="MLL96-0001"))
    other = relapsed_course(PatientFactory(center=other_center, study_id="MLL98-0002"))
    return own, other


def _csv_rows(content):
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_analysis_csv_has_no_dates_and_no_study_ids(investigator, cohort):
    content, content_type, name = exports.export(user=investigator, kind="analysis", fmt="csv", source="test")
    assert content_type.startswith("text/csv") and name.endswith(".csv")
    text = content.decode("utf-8-sig")
    assert "MLL96-0001" not in text and "MLL98-0002" not in text
    assert "1996-" not in text  # no calendar date of any kind
    rows = _csv_rows(content)
    assert list(rows[0]) == [v.name for v in ANALYSIS_VARIABLES]
    first = next(r for r in rows if r["pseudonym"] == exports.pseudonym("MLL96-0001"))
    assert first["age_at_diagnosis_days"] == "120"
    assert first["first_line_days"] == "35"
    assert first["relapse1_days"] == "200"
    assert first["first_remission_days"] == "165"
    assert first["salvage_remission"] == "1" and first["hsct1_status"] == "CR2+"
    assert first["last_contact_days"] == "2000" and first["vital_status"] == "ALIVE"


def test_pseudonyms_are_stable_and_keyed(settings):
    a = exports.pseudonym("MLL96-0001")
    assert a == exports.pseudonym("MLL96-0001") and a != exports.pseudonym("MLL96-0002")
    settings.EXPORT_PSEUDONYM_KEY = "another key"
    assert exports.pseudonym("MLL96-0001") != a


def test_center_investigator_exports_own_center_only(center_investigator, cohort):
    content, _, _ = exports.export(user=center_investigator, kind="analysis", fmt="csv", source="test")
    assert [r["pseudonym"] for r in _csv_rows(content)] == [exports.pseudonym("MLL96-0001")]


@pytest.mark.parametrize("fmt", ["dta", "sav"])
def test_stata_and_spss_carry_variable_and_value_labels(investigator, cohort, fmt):
    content, _, _ = exports.export(user=investigator, kind="analysis", fmt=fmt, source="test")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"x.{fmt}")
        Path(path).write_bytes(content)
        reader = pyreadstat.read_dta if fmt == "dta" else pyreadstat.read_sav
        df, meta = reader(path)
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["age_at_diagnosis_days"] == "Age at diagnosis (days)"
    assert list(df.columns) == [v.name for v in ANALYSIS_VARIABLES]
    partner_labels = meta.variable_value_labels["mll_partner"]
    assert partner_labels[1] == "AF4/AFF1 t(4;11)(q21;q23)"
    assert set(df["mll_partner"]) == {1}
    assert len(df) == 2


def test_sas_transport_carries_labels_and_codes(investigator, cohort):
    content, _, _ = exports.export(user=investigator, kind="analysis", fmt="xpt", source="test")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.xpt")
        Path(path).write_bytes(content)
        df, meta = pyreadstat.read_xport(path)
    assert dict(zip(meta.column_names, meta.column_labels, strict=True))["wbc"] == "WBC at diagnosis (x10^9/L)"
    assert set(df["mll_partner"]) == {"AF4"}


def test_xlsx_analysis_has_a_labels_sheet(investigator, cohort):
    from openpyxl import load_workbook

    content, _, _ = exports.export(user=investigator, kind="analysis", fmt="xlsx", source="test")
    wb = load_workbook(io.BytesIO(content), read_only=True)
    assert wb.sheetnames == ["analysis", "labels"]


def test_formula_looking_text_is_neutralised_in_spreadsheets(admin_user, center):
    from openpyxl import load_workbook

    patient = relapsed_course(PatientFactory(center=center, study_id="MLL96-0001"))
    line = patient.salvage_lines.get()
    line.agents = '=HYPERLINK("http://evil.example","click")'
    line.regimen = "@SUM(A1)"
    services.save_record(user=None, record=line, source="test", reason="test data")
    content, _, _ = exports.export(user=admin_user, kind="identified", fmt="xlsx", source="test")
    ws = load_workbook(io.BytesIO(content))["salvage_lines"]
    assert ws["C2"].value == '\'=HYPERLINK("http://evil.example","click")' and ws["C2"].data_type == "s"
    assert ws["B2"].value == "'@SUM(A1)"
    zipped, _, _ = exports.export(user=admin_user, kind="identified", fmt="zip", source="test")
    import zipfile

    text = zipfile.ZipFile(io.BytesIO(zipped)).read("salvage_lines.csv").decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'@SUM" in text


@pytest.mark.parametrize("role", ["coordinator", "investigator", "data_manager"])
def test_identified_and_odm_are_for_admins_only(request, role):
    user = request.getfixturevalue(role)
    for kind, fmt in (("identified", "xlsx"), ("odm", "xml")):
        with pytest.raises(PermissionDenied):
            exports.export(user=user, kind=kind, fmt=fmt, source="test")
    assert not ExportLog.objects.exists()


def test_coordinators_do_not_download_analysis_sets(coordinator):
    with pytest.raises(PermissionDenied):
        exports.export(user=coordinator, kind="analysis", fmt="csv", source="test")


def test_odm_validates_against_the_odm_1_3_2_schema(admin_user, cohort):
    content, content_type, _ = exports.export(user=admin_user, kind="odm", fmt="xml", source="test")
    assert content_type == "application/xml"
    schema = etree.XMLSchema(etree.parse(str(exports.ODM_XSD)))
    document = etree.fromstring(content)
    assert schema.validate(document), schema.error_log
    ns = {"odm": exports.ODM_NS}
    subjects = document.findall(".//odm:SubjectData", ns)
    assert [s.get("SubjectKey") for s in subjects] == ["MLL96-0001", "MLL98-0002"]
    assert document.find(".//odm:CodeList[@OID='CL.MLLPARTNER']", ns) is not None
    values = {i.get("ItemOID"): i.get("Value") for i in subjects[0].iter(f"{{{exports.ODM_NS}}}ItemData")}
    assert values["IT.PATIENTS.MLLPARTNER"] == "AF4"


def test_odm_validator_reports_errors():
    assert exports.validate_odm(b'<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"/>')


def test_every_export_is_logged(investigator, cohort):
    content, _, name = exports.export(user=investigator, kind="analysis", fmt="sav", source="page")
    log = ExportLog.objects.get()
    assert (log.user, log.kind, log.file_format, log.n_patients, log.source) == (
        investigator,
        "analysis",
        "sav",
        2,
        "page",
    )
    assert log.file_name == name and len(log.sha256) == 64


def test_dictionary_exports_for_every_role(coordinator):
    md, _, _ = exports.export(user=coordinator, kind="dictionary", fmt="md", source="test")
    assert md.decode().startswith("# Data dictionary")
    rows = _csv_rows(exports.export(user=coordinator, kind="dictionary", fmt="csv", source="test")[0])
    assert {"import", "analysis"} == {r["part"] for r in rows}


def test_unknown_export_is_refused(admin_user):
    with pytest.raises(exports.UnknownExport):
        exports.export(user=admin_user, kind="analysis", fmt="pdf", source="test")


def test_docs_data_dictionary_is_up_to_date():
    path = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"
    assert path.read_text() == markdown() + "\n", (
        "regenerate: .venv/bin/python -m registry.transfer.data_dictionary > docs/data-dictionary.md"
    )


# --- The pages ------------------------------------------------------------------------------


def test_export_page_lists_downloads_by_role(client, investigator, admin_user):
    client.force_login(investigator)
    text = client.get("/exports/").content.decode()
    assert "/exports/analysis.sav" in text and "/exports/identified.xlsx" not in text
    client.force_login(admin_user)
    assert "/exports/odm.xml" in client.get("/exports/").content.decode()


def test_export_download_page(client, investigator, cohort):
    client.force_login(investigator)
    response = client.get("/exports/analysis.csv")
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    assert client.get("/exports/identified.xlsx").status_code == 403
    assert client.get("/exports/analysis.pdf").status_code == 404
    assert ExportLog.objects.get().source == "page"


def test_export_page_needs_a_role(client, outsider):
    client.force_login(outsider)
    assert client.get("/exports/").status_code == 403
