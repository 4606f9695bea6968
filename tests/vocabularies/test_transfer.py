"""The regimen code in imports (its column, codes checked, coded from the text when blank, kept on a
re-import) and exports (identified, ODM code list, the de-identified analysis set gets the code only)."""

import csv
import io
import zipfile

from lxml import etree

from registry.audit import audit_context
from registry.models import SalvageLine
from registry.transfer import exports
from tests.factories import PatientFactory, relapsed_course
from tests.test_imports import course_sheets, run, workbook

HEADER = ["study_id", "regimen", "agents", "start_date", "response", "response_date", "regimen_code"]


def with_code(regimen, code):
    sheets = course_sheets()
    row = sheets["salvage_lines"][1]
    sheets["salvage_lines"] = [HEADER, [row[0], regimen, *row[2:], code]]
    return sheets


def test_the_code_column_is_imported_case_insensitively(coordinator):
    report = run(coordinator, workbook(with_code("our relapse block", "all-rez-bfm")), commit=True)
    assert report["committed"], report["problems"]
    line = SalvageLine.objects.get()
    assert (line.regimen, line.regimen_code) == ("our relapse block", "ALL-REZ-BFM")


def test_an_unknown_code_is_a_located_problem_and_nothing_is_written(coordinator):
    report = run(coordinator, workbook(with_code("FLAG", "NO-SUCH")), commit=True)
    assert not report["committed"] and not SalvageLine.objects.exists()
    problem = next(p for p in report["problems"] if p["column"] == "regimen_code")
    assert (problem["sheet"], problem["row"], problem["kind"]) == ("salvage_lines", 2, "unknown_code")
    assert "FLAG-IDA" in problem["message"]  # the allowed codes are listed


def test_a_blank_code_is_coded_from_the_text_and_a_reimport_keeps_a_stored_code(coordinator):
    sheets = with_code("MLL98 rescue", "")
    assert run(coordinator, workbook(sheets), commit=True)["committed"]
    assert SalvageLine.objects.get().regimen_code == "MLL98-RESCUE"
    with audit_context(reason="coded by the data manager"):
        SalvageLine.objects.update(regimen_code="ICE")
    without_column = course_sheets()
    without_column["salvage_lines"][1][1] = "MLL98 rescue"
    for content in (workbook(sheets), workbook(without_column)):
        report = run(coordinator, content, commit=True)
        assert report["committed"] and report["sheets"]["salvage_lines"]["unchanged"] == 1, report
    assert SalvageLine.objects.get().regimen_code == "ICE"


def test_the_identified_export_and_odm_carry_the_code(admin_user, center):
    relapsed_course(PatientFactory(center=center, study_id="MLL96-0001"))
    content, _type, _name = exports.export(user=admin_user, kind="identified", fmt="zip", source="test")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        name = next(n for n in archive.namelist() if "salvage_lines" in n)
        rows = list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))
    assert rows[0]["regimen"] == "FLAG" and rows[0]["regimen_code"] == "FLAG"
    content, _type, _name = exports.export(user=admin_user, kind="odm", fmt="xml", source="test")
    document = etree.fromstring(content)
    ns = {"odm": exports.ODM_NS}
    codes = document.find(".//odm:CodeList[@OID='CL.REGIMENCODE']", ns)
    assert "MLL98-RESCUE" in [item.get("CodedValue") for item in codes]
    values = [
        i.get("Value") for i in document.iter(f"{{{exports.ODM_NS}}}ItemData") if "REGIMENCODE" in i.get("ItemOID")
    ]
    assert values == ["FLAG"]


def test_the_analysis_set_gets_the_code_not_the_free_text(investigator, center):
    patient = relapsed_course(PatientFactory(center=center, study_id="MLL96-0001"))
    line = patient.salvage_lines.get()
    with audit_context(reason="test: free text that must not leave the registry"):
        SalvageLine.objects.filter(pk=line.pk).update(regimen="Secret local name", agents="secret agents")
    content, _type, _name = exports.export(user=investigator, kind="analysis", fmt="zip", source="test")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        name = next(n for n in archive.namelist() if "salvage_lines" in n)
        text = archive.read(name).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["regimen_code"] == "FLAG"
    assert (
        "Secret" not in text and "secret" not in text and "regimen" not in [c for c in rows[0] if c != "regimen_code"]
    )
