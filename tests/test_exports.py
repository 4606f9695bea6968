"""Exports: de-identified data set in five formats with labels, identified export, ODM 1.3.2, logging."""

import csv
import io
import os
import re
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path

import pyreadstat
import pytest
from django.core.exceptions import PermissionDenied
from lxml import etree

from registry import services
from registry.models import ExportLog
from registry.transfer import exports
from registry.transfer.data_dictionary import ANALYSIS_TABLES, ANALYSIS_TABLES_BY_NAME, ANALYSIS_VARIABLES, markdown
from tests.factories import (
    FirstLineResponseFactory,
    FollowUpFactory,
    PatientFactory,
    RelapseFactory,
    SalvageLineFactory,
    TransplantFactory,
    relapsed_course,
)


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
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # no calendar date of any kind
    rows = _csv_rows(content)
    assert list(rows[0]) == [v.name for v in ANALYSIS_VARIABLES]
    first = next(r for r in rows if r["pseudonym"] == exports.pseudonym("MLL96-0001"))
    assert first["age_at_diagnosis_days"] == "120"
    assert first["first_line_days"] == first["cr1_days"] == "35"
    assert first["relapse1_days"] == first["recurrence_days"] == "200"
    assert first["first_remission_days"] == "165"
    assert first["second_line_days"] == "210" and first["salvage_remission_days"] == "240"
    assert first["salvage_remission"] == "1" and first["hsct1_status"] == "CR2+"
    assert first["hsct_after_recurrence"] == "1" and first["hsct_after_recurrence_days"] == "300"
    assert first["last_contact_days"] == first["end_days"] == "2000" and first["vital_status"] == "ALIVE"
    assert first["recurrent_or_refractory"] == "1" and first["first_remission_group"] == "CR1 < 6 months"


def _zip(content):
    return zipfile.ZipFile(io.BytesIO(content))


def test_analysis_zip_holds_one_csv_per_table(investigator, cohort):
    content, content_type, name = exports.export(user=investigator, kind="analysis", fmt="zip", source="test")
    assert content_type == "application/zip" and name.endswith(".zip")
    archive = _zip(content)
    assert archive.namelist() == [f"{t.name}.csv" for t in ANALYSIS_TABLES]
    for table in ANALYSIS_TABLES:
        rows = _csv_rows(archive.read(f"{table.name}.csv"))
        assert list(rows[0]) == [v.name for v in table.variables]
        assert len(rows) == 2, table.name  # each patient of the cohort has one of every record


def test_every_transplant_is_exported_and_hsct_counts_after_recurrence(investigator, center):
    """A CR1 transplant, then relapse, salvage and a second HSCT: both are in the data set."""
    patient = PatientFactory(center=center, study_id="MLL96-0001")
    FirstLineResponseFactory(patient=patient)
    dx = patient.diagnosis_date
    TransplantFactory(patient=patient, transplant_date=dx + timedelta(days=100), disease_status="CR1")
    RelapseFactory(patient=patient, relapse_date=dx + timedelta(days=200))
    SalvageLineFactory(patient=patient, start_date=dx + timedelta(days=210))
    TransplantFactory(patient=patient, transplant_date=dx + timedelta(days=300), donor="MUD", stem_cell_source="BM")
    FollowUpFactory(
        patient=patient,
        contact_date=dx + timedelta(days=900),
        vital_status="DEAD",
        death_date=dx + timedelta(days=900),
        cause_of_death="LEUKEMIA",
    )
    archive = _zip(exports.export(user=investigator, kind="analysis", fmt="zip", source="test")[0])
    transplants = _csv_rows(archive.read("transplants.csv"))
    assert [
        (t["transplant_number"], t["transplant_days"], t["disease_status"], t["after_recurrence"]) for t in transplants
    ] == [
        ("1", "100", "CR1", "0"),
        ("2", "300", "CR2+", "1"),
    ]
    assert transplants[1]["donor"] == "MUD" and transplants[1]["stem_cell_source"] == "BM"
    (row,) = _csv_rows(archive.read("patients.csv"))
    assert (row["n_transplants"], row["hsct1_days"], row["hsct1_status"]) == ("2", "100", "CR1")
    assert (row["hsct_after_recurrence_days"], row["hsct_after_recurrence_status"]) == ("300", "CR2+")
    assert (row["relapse_after_hsct_days"], row["death_days"], row["end_days"], row["dead"]) == (
        "200",
        "900",
        "900",
        "1",
    )
    assert row["vital_status"] == "DEAD" and row["cause_of_death"] == "LEUKEMIA"
    (salvage,) = _csv_rows(archive.read("salvage_lines.csv"))
    assert (salvage["line_number"], salvage["start_days"], salvage["after_recurrence"]) == ("1", "210", "1")
    assert "regimen" not in salvage and "agents" not in salvage  # free text stays out


def test_pseudonyms_are_stable_and_keyed(settings):
    a = exports.pseudonym("MLL96-0001")
    assert a == exports.pseudonym("MLL96-0001") and a != exports.pseudonym("MLL96-0002")
    settings.EXPORT_PSEUDONYM_KEY = "another key"
    assert exports.pseudonym("MLL96-0001") != a


def test_center_investigator_exports_own_center_only(center_investigator, cohort):
    content, _, _ = exports.export(user=center_investigator, kind="analysis", fmt="csv", source="test")
    assert [r["pseudonym"] for r in _csv_rows(content)] == [exports.pseudonym("MLL96-0001")]
    archive = _zip(exports.export(user=center_investigator, kind="analysis", fmt="zip", source="test")[0])
    for table in ANALYSIS_TABLES:
        rows = _csv_rows(archive.read(f"{table.name}.csv"))
        assert {r["pseudonym"] for r in rows} == {exports.pseudonym("MLL96-0001")}, table.name


def _read_statistical(archive, name, fmt):
    reader = {"dta": pyreadstat.read_dta, "sav": pyreadstat.read_sav, "xpt": pyreadstat.read_xport}[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"x.{fmt}")
        Path(path).write_bytes(archive.read(f"{name}.{fmt}"))
        return reader(path)


@pytest.mark.parametrize("fmt", ["dta", "sav"])
def test_stata_and_spss_carry_variable_and_value_labels(investigator, cohort, fmt):
    content, content_type, name = exports.export(user=investigator, kind="analysis", fmt=fmt, source="test")
    assert content_type == "application/zip" and name.endswith(f"_{fmt}_{name[-12:-4]}.zip")
    archive = _zip(content)
    assert archive.namelist() == [f"{t.name}.{fmt}" for t in ANALYSIS_TABLES]
    df, meta = _read_statistical(archive, "patients", fmt)
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["age_at_diagnosis_days"] == "Age at diagnosis (days)"
    assert list(df.columns) == [v.name for v in ANALYSIS_VARIABLES]
    partner_labels = meta.variable_value_labels["mll_partner"]
    assert partner_labels[1] == "AF4/AFF1 t(4;11)(q21;q23)"
    assert set(df["mll_partner"]) == {1}
    assert len(df) == 2
    df, meta = _read_statistical(archive, "transplants", fmt)
    assert dict(zip(meta.column_names, meta.column_labels, strict=True))["disease_status"] == "Disease status at HSCT"
    assert len(df) == 2 and set(df["transplant_days"]) == {300}


def test_sas_transport_carries_labels_and_codes(investigator, cohort):
    archive = _zip(exports.export(user=investigator, kind="analysis", fmt="xpt", source="test")[0])
    df, meta = _read_statistical(archive, "patients", "xpt")
    assert dict(zip(meta.column_names, meta.column_labels, strict=True))["wbc"] == "WBC at diagnosis (x10^9/L)"
    assert set(df["mll_partner"]) == {"AF4"}
    df, _ = _read_statistical(archive, "relapses", "xpt")
    assert list(df["relapse_days"]) == [200, 200]


def test_sas_transport_v5_has_8_character_names_long_names_as_labels_and_a_formats_program(investigator, cohort):
    archive = _zip(exports.export(user=investigator, kind="analysis", fmt="xpt5", source="test")[0])
    assert archive.namelist() == [f"{t.name}.xpt" for t in ANALYSIS_TABLES] + ["formats.sas"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "patients.xpt")
        Path(path).write_bytes(archive.read("patients.xpt"))
        assert Path(path).read_bytes().startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!")
        df, meta = pyreadstat.read_xport(path)
    assert all(len(name) <= 8 for name in meta.column_names)
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["AGE_AT_D"] == "age_at_diagnosis_days"
    assert set(labels.values()) == {v.name for v in ANALYSIS_VARIABLES}
    assert len(set(meta.column_names)) == len(ANALYSIS_VARIABLES) and len(df) == 2
    program = archive.read("formats.sas").decode()
    assert "proc format;" in program and '"AF4" = "AF4/AFF1 t(4;11)(q21;q23)"' in program
    assert 'libname xpt1 xport "patients.xpt";' in program


def test_sas_name_shortening_is_unique():
    from registry.transfer.exports.analysis_set import sas_names

    names = sas_names(["hsct_after_recurrence_days", "hsct_after_recurrence_status", "hsct1_days", "3rd"])
    assert all(len(n) <= 8 for n in names.values()) and len(set(names.values())) == 4
    assert names["3rd"] == "_3RD"


def test_stata_files_are_release_118(investigator, cohort):
    archive = _zip(exports.export(user=investigator, kind="analysis", fmt="dta", source="test")[0])
    assert archive.read("patients.dta").startswith(b"<stata_dta><header><release>118</release>")


def test_xlsx_analysis_has_a_sheet_per_table_and_a_labels_sheet(investigator, cohort):
    from openpyxl import load_workbook

    content, _, _ = exports.export(user=investigator, kind="analysis", fmt="xlsx", source="test")
    wb = load_workbook(io.BytesIO(content), read_only=True)
    assert wb.sheetnames == [*(t.name for t in ANALYSIS_TABLES), "labels"]
    assert [c.value for c in next(wb["relapses"].iter_rows(max_row=1))] == [
        v.name for v in ANALYSIS_TABLES_BY_NAME["relapses"].variables
    ]


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
    assert "/exports/analysis.zip" in text and "/exports/analysis.sav" in text
    assert "/exports/identified.xlsx" not in text
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
