"""CSV files in UTF-8 and in Shift_JIS as Japanese Excel writes it (CP932), in and out, Japanese text intact."""

import csv
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from registry.audit import audit_context
from registry.models import ExportLog, ImportJob, Patient, SalvageLine
from registry.transfer import exports, imports
from registry.transfer.data_dictionary import SHEETS, SHEETS_BY_NAME
from tests.factories import FirstLineResponseFactory, PatientFactory, RelapseFactory, SalvageLineFactory

SALVAGE_HEADER = SHEETS_BY_NAME["salvage_lines"].column_names
# Kanji and kana, half-width katakana, and an NEC special character (①) that CP932 has and Shift_JIS lacks.
REGIMENS = ["救援療法 FLAG", "ｲﾀﾞﾙﾋﾞｼﾝ併用 ①"]
AGENTS = "フルダラビン、シタラビン、ｲﾀﾞﾙﾋﾞｼﾝ"


@pytest.fixture
def relapsed(center):
    """MLL96-0001 of TKY01: diagnosed 1996-05-09, CR 1996-06-13, relapse 1996-11-25 (no salvage yet)."""
    patient = PatientFactory(center=center, study_id="MLL96-0001")
    FirstLineResponseFactory(patient=patient)
    RelapseFactory(patient=patient)
    return patient


def salvage_csv(encoding, *, bom=False):
    """Two salvage lines as Excel saves them: CRLF line ends, in ``encoding`` (a UTF-8 BOM if asked)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(SALVAGE_HEADER)
    writer.writerow(["MLL96-0001", REGIMENS[0], AGENTS, "1996-12-05", "NR", ""])
    writer.writerow(["MLL96-0001", REGIMENS[1], "idarubicin", "1997-01-10", "CR", "1997-02-10"])
    content = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + content) if bom else content


def run(user, content, name="salvage_lines.csv", **kwargs):
    return imports.check_and_write(user=user, file_name=name, content=content, **kwargs)


def stored_regimens():
    return sorted(SalvageLine.objects.values_list("regimen", flat=True))


def test_the_cp932_file_is_what_japanese_excel_writes():
    content = salvage_csv("cp932")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    with pytest.raises(UnicodeEncodeError):
        REGIMENS[1].encode("shift_jis")  # plain Shift_JIS has no ①: the file must be read as CP932


@pytest.mark.parametrize("encoding", ["auto", "cp932"])
def test_a_cp932_csv_passes_dry_run_and_commit_with_japanese_text_intact(coordinator, relapsed, encoding):
    content = salvage_csv("cp932")
    checked = run(coordinator, content, encoding=encoding)
    assert checked["problem_count"] == 0, checked["problems"]
    assert checked["sheets"]["salvage_lines"]["create"] == 2
    assert checked["encodings"] == {"salvage_lines": "cp932"}
    assert not SalvageLine.objects.exists()

    committed = run(coordinator, content, encoding=encoding, commit=True)
    assert committed["committed"], committed["problems"]
    assert stored_regimens() == sorted(REGIMENS)
    assert SalvageLine.objects.get(start_date="1996-12-05").agents == AGENTS


@pytest.mark.parametrize("bom", [False, True], ids=["utf-8", "utf-8 with BOM"])
@pytest.mark.parametrize("encoding", ["auto", "utf-8"])
def test_utf8_with_and_without_bom(coordinator, relapsed, bom, encoding):
    report = run(coordinator, salvage_csv("utf-8", bom=bom), encoding=encoding, commit=True)
    assert report["committed"], report["problems"]
    assert report["encodings"] == {"salvage_lines": "utf-8"}
    assert stored_regimens() == sorted(REGIMENS)
    assert not SalvageLine.objects.filter(regimen__startswith="\ufeff").exists()


def test_a_cp932_file_declared_utf8_is_refused_saying_what_to_choose(coordinator, relapsed):
    with pytest.raises(imports.ImportRejected) as refused:
        run(coordinator, salvage_csv("cp932"), encoding="utf-8")
    assert "not UTF-8" in refused.value.message and "Shift_JIS (CP932)" in refused.value.message


def test_a_utf8_file_with_a_bom_declared_cp932_is_refused(coordinator, relapsed):
    with pytest.raises(imports.ImportRejected) as refused:
        run(coordinator, salvage_csv("utf-8", bom=True), encoding="cp932")
    assert "byte-order mark" in refused.value.message


@pytest.mark.parametrize(
    "content",
    [
        "study_id,regimen\nMLL96-0001,Café\n".encode("latin-1"),  # é then a newline: no CP932 either
        "study_id,regimen\nMLL96-0001,Hôpital\n".encode("latin-1"),  # reads as CP932 only into private use
        "study_id,regimen\nMLL96-0001,救援\n".encode("utf-16"),
        b"study_id,regimen\nMLL96-0001,\x81\n",  # a Shift_JIS lead byte without its second byte
    ],
    ids=["latin-1", "latin-1 cp932-shaped", "utf-16", "cut multibyte"],
)
def test_a_file_in_neither_encoding_is_refused_with_a_clear_message(coordinator, content):
    with pytest.raises(imports.ImportRejected) as refused:
        run(coordinator, content)
    message = refused.value.message
    assert refused.value.status == 400
    assert "not UTF-8 or Shift_JIS (CP932)" in message and "byte" in message and "CSV UTF-8" in message


def test_an_unknown_encoding_is_refused(coordinator):
    with pytest.raises(imports.ImportRejected) as refused:
        run(coordinator, b"study_id\n", encoding="latin-1")
    assert "Unknown encoding" in refused.value.message


def test_cp932_csv_files_in_a_zip(coordinator, relapsed):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("salvage_lines.csv", salvage_csv("cp932"))
    report = run(coordinator, buffer.getvalue(), name="course.zip", commit=True)
    assert report["committed"], report["problems"]
    assert stored_regimens() == sorted(REGIMENS)


# --- The import page and the API keep the encoding from the dry run to the commit -------------------


def test_import_page_with_the_encoding_chosen(client, coordinator, relapsed):
    client.force_login(coordinator)
    page = client.get("/imports/")
    assert b'name="encoding"' in page.content and b"Shift_JIS" in page.content
    upload = SimpleUploadedFile("salvage.csv", salvage_csv("cp932"))
    response = client.post("/imports/", {"file": upload, "entity": "salvage_lines", "encoding": "cp932"})
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.CHECKED, job.report["problems"]
    report_page = client.get(response["Location"]).content.decode()
    assert "Shift_JIS (CP932)" in report_page and "No problems found" in report_page
    client.post(f"/imports/{job.pk}/commit/")
    job.refresh_from_db()
    assert job.status == ImportJob.Status.COMMITTED and job.report["encoding"] == "cp932"
    assert stored_regimens() == sorted(REGIMENS)


def test_import_page_refuses_a_file_in_neither_encoding(client, coordinator):
    client.force_login(coordinator)
    upload = SimpleUploadedFile("salvage_lines.csv", "study_id\nMLL96-0001,é\n".encode("latin-1"))
    response = client.post("/imports/", {"file": upload, "encoding": "auto"})
    assert response.status_code == 400
    assert "Shift_JIS (CP932)" in response.content.decode() and not ImportJob.objects.exists()


def test_import_api_with_the_encoding_chosen(coordinator, relapsed):
    client = APIClient()
    client.force_authenticate(coordinator)
    upload = SimpleUploadedFile("salvage_lines.csv", salvage_csv("cp932"), content_type="text/csv")
    response = client.post("/api/v1/imports/", {"file": upload, "encoding": "cp932"}, format="multipart")
    assert response.status_code == 201, response.json()
    job = response.json()
    assert job["status"] == "checked" and job["report"]["encoding"] == "cp932"
    assert job["report"]["encodings"] == {"salvage_lines": "cp932"}
    response = client.post(f"/api/v1/imports/{job['id']}/commit/")
    assert response.status_code == 200 and response.json()["status"] == "committed"
    assert stored_regimens() == sorted(REGIMENS)

    upload = SimpleUploadedFile("salvage_lines.csv", salvage_csv("cp932"), content_type="text/csv")
    response = client.post("/api/v1/imports/", {"file": upload, "encoding": "latin-1"}, format="multipart")
    assert response.status_code == 400 and "encoding" in response.json()


# --- Exports in either encoding -----------------------------------------------------------------------


@pytest.fixture
def japanese_course(relapsed):
    SalvageLineFactory(patient=relapsed, regimen=REGIMENS[0], agents=AGENTS)
    return relapsed


def _members(content, encoding):
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {name: archive.read(name).decode(encoding) for name in archive.namelist()}


def test_a_cp932_csv_export_round_trips(admin_user, japanese_course):
    first, content_type, file_name = exports.export(
        user=admin_user, kind="identified", fmt="zip", source="test", encoding="cp932"
    )
    assert file_name.endswith("_sjis.zip")
    members = _members(first, "cp932")  # every CSV file reads as CP932 (no BOM, no UTF-8)
    assert REGIMENS[0] in members["salvage_lines.csv"] and AGENTS in members["salvage_lines.csv"]
    assert not any(text.startswith("\ufeff") for text in members.values())

    with audit_context(reason="round trip test", source="test"):
        Patient.objects.all().delete()
    report = run(None, first, name=file_name, commit=True)  # read back as found (auto)
    assert report["committed"], report["problems"]
    # Worked out per file: Japanese text as CP932, the files of plain ASCII as UTF-8 (the same bytes).
    assert report["encodings"]["salvage_lines"] == "cp932" and set(report["encodings"]) == {s.name for s in SHEETS}
    assert SalvageLine.objects.get().regimen == REGIMENS[0]
    again, _, _ = exports.export(user=admin_user, kind="identified", fmt="zip", source="test", encoding="cp932")
    assert _members(again, "cp932") == members


def test_utf8_with_bom_stays_the_default(admin_user, japanese_course):
    content, content_type, file_name = exports.export(user=admin_user, kind="analysis", fmt="csv", source="test")
    assert content.startswith(b"\xef\xbb\xbf") and content_type == "text/csv; charset=utf-8"
    zipped, _, _ = exports.export(user=admin_user, kind="identified", fmt="zip", source="test")
    assert REGIMENS[0] in _members(zipped, "utf-8-sig")["salvage_lines.csv"]


def test_export_page_and_api_offer_cp932(client, admin_user, japanese_course):
    client.force_login(admin_user)
    page = client.get("/exports/").content.decode()
    assert "?encoding=cp932" in page
    response = client.get("/exports/analysis.csv?encoding=cp932")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=shift_jis"
    assert not response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("cp932"))))
    assert rows[0][0] == "pseudonym" and len(rows) == 2
    assert ExportLog.objects.filter(file_name__endswith="_sjis.csv").count() == 1

    api = APIClient()
    api.force_authenticate(admin_user)
    response = api.get("/api/v1/exports/identified/zip/?encoding=cp932")
    assert response.status_code == 200
    assert REGIMENS[0] in _members(response.content, "cp932")["salvage_lines.csv"]
    response = api.get("/api/v1/exports/identified/zip/?encoding=latin-1")
    assert response.status_code == 400 and "encoding" in response.json()


def test_a_character_cp932_cannot_write_refuses_the_download(client, admin_user, relapsed):
    SalvageLineFactory(patient=relapsed, regimen="FLAG — high dose")  # an em dash: not in CP932
    with pytest.raises(exports.CsvEncodingError) as refused:
        exports.export(user=admin_user, kind="identified", fmt="zip", source="test", encoding="cp932")
    assert "'—'" in refused.value.message and "UTF-8" in refused.value.message
    assert not ExportLog.objects.exists()

    client.force_login(admin_user)
    response = client.get("/exports/identified.zip?encoding=cp932", follow=True)
    assert response.redirect_chain[-1][0].endswith("/exports/")
    assert "Shift_JIS (CP932) cannot write" in response.content.decode()
    api = APIClient()
    api.force_authenticate(admin_user)
    response = api.get("/api/v1/exports/identified/zip/?encoding=cp932")
    assert response.status_code == 400 and "cannot write" in str(response.json()["encoding"])
