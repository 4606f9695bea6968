"""Bulk import: every problem located by sheet, row and column; nothing written until a clean commit."""

import html
import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from registry.audit import audit_context
from registry.models import FirstLineResponse, FollowUp, ImportJob, Patient, Relapse, SalvageLine, Transplant
from registry.transfer import exports, imports, uploads
from registry.transfer.data_dictionary import SHEETS, SHEETS_BY_NAME
from registry.transfer.imports import jobs
from tests.factories import PatientFactory, relapsed_course

PATIENT_HEADER = SHEETS_BY_NAME["patients"].column_names


def patient_row(study_id, **overrides):
    row = {
        "study_id": study_id,
        "center": "TKY01",
        "trial": "MLL96",
        "registration_date": "1996-05-12",
        "sex": "F",
        "date_of_birth": "1996-01-10",
        "diagnosis_date": "1996-05-09",
        "wbc": "150.0",
        "cns_status": "CNS1",
        "immunophenotype": "PRO_B",
        "prednisone_response": "GOOD",
        "mll_partner": "AF4",
        "mll_detection_method": "FISH",
    }
    row.update(overrides)
    return [row[c] for c in PATIENT_HEADER]


def workbook(sheets):
    """XLSX bytes from {sheet: [header, row, ...]}."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def course_sheets(study_id="MLL96-0001", center="TKY01"):
    return {
        "patients": [PATIENT_HEADER, patient_row(study_id, center=center)],
        "first_line_responses": [["study_id", "outcome", "assessment_date"], [study_id, "CR", "1996-06-13"]],
        "relapses": [["study_id", "relapse_date", "site"], [study_id, "1996-11-25", "BM"]],
        "salvage_lines": [
            ["study_id", "regimen", "agents", "start_date", "response", "response_date"],
            [study_id, "FLAG", "fludarabine, cytarabine", "1996-12-05", "CR", "1997-01-04"],
        ],
        "transplants": [
            SHEETS_BY_NAME["transplants"].column_names,
            [study_id, "1997-03-05", "ALLO", "UCB", "CB", "BU", "MAC", "CR2+"],
        ],
        "follow_ups": [
            SHEETS_BY_NAME["follow_ups"].column_names,
            [study_id, "2001-10-30", "ALIVE", None, None, 0, None],
            [study_id, "1998-01-15", "ALIVE", None, None, 0, None],
        ],
    }


def run(user, content, name="course.xlsx", **kwargs):
    return imports.check_and_write(user=user, file_name=name, content=content, **kwargs)


def kinds(report):
    return {(p["sheet"], p["row"], p["column"], p["kind"]) for p in report["problems"]}


def test_one_of_each_kind_of_error_is_located_and_nothing_is_written(coordinator):
    content = workbook(
        {
            "patients": [
                PATIENT_HEADER,
                patient_row("MLL96-0001"),
                patient_row("MLL96-0002", sex="X"),
                patient_row("MLL96-0003", date_of_birth="1996-02-30"),
                patient_row("MLL96-0001"),
            ],
            "first_line_responses": [["study_id", "outcome", "assessment_date"], ["MLL96-0001", "CR", "1996-04-01"]],
            "relapses": [["study_id", "relapse_date", "site"], ["MLL96-9999", "1997-01-01", "BM"]],
        }
    )
    report = run(coordinator, content, commit=True)
    assert not report["committed"]
    assert kinds(report) >= {
        ("patients", 3, "sex", "unknown_code"),
        ("patients", 4, "date_of_birth", "impossible_date"),
        ("patients", 5, "study_id", "duplicate"),
        ("relapses", 2, "study_id", "unknown_study_id"),
        ("first_line_responses", 2, "assessment_date", "chronology"),
    }, report["problems"]
    by_kind = {p["kind"]: p for p in report["problems"]}
    assert "allowed: M, F" in by_kind["unknown_code"]["message"]
    assert by_kind["unknown_code"]["value"] == "X"
    assert "before the date of diagnosis" in by_kind["chronology"]["message"]
    assert not Patient.objects.exists() and not Patient.history.exists()


def test_the_counts_per_sheet_agree_with_the_problem_list(coordinator):
    bad_patient = course_sheets("MLL96-0002")
    bad_patient["patients"][1] = patient_row("MLL96-0002", sex="X")  # its events cannot be checked
    sheets = course_sheets("MLL96-0001")
    sheets["relapses"].append(["MLL96-0001", "1990-01-01", "BM"])  # before diagnosis: a course rule
    for name, rows in bad_patient.items():
        sheets[name] += rows[1:]
    report = run(coordinator, workbook(sheets))
    listed = {}
    for p in report["problems"]:
        listed.setdefault(p["sheet"], set()).add(p["row"])
    for sheet, counts in report["sheets"].items():
        assert counts["error"] == len(listed.get(sheet, ())), (sheet, counts, report["problems"])
    assert report["sheets"]["patients"]["error"] == 1 and report["sheets"]["relapses"]["error"] >= 2
    not_checked = [p for p in report["problems"] if p["kind"] == "patient_not_checked"]
    assert not_checked and all("MLL96-0002" in p["message"] for p in not_checked)


def test_dry_run_writes_nothing_then_commit_writes_everything_audited(coordinator):
    content = workbook(course_sheets())
    checked = run(coordinator, content)
    assert checked["problem_count"] == 0, checked["problems"]
    assert not checked["committed"]
    assert checked["sheets"]["follow_ups"]["create"] == 2
    assert not Patient.objects.exists()

    report = run(coordinator, content, name="course.xlsx", commit=True)
    assert report["committed"], report["problems"]
    patient = Patient.objects.get(study_id="MLL96-0001")
    assert patient.center.code == "TKY01"
    for model in (FirstLineResponse, Relapse, SalvageLine, Transplant):
        assert model.objects.filter(patient=patient).count() == 1
    assert FollowUp.objects.filter(patient=patient).count() == 2
    history = Relapse.history.get()
    assert history.audit_source == "import:course.xlsx"
    assert history.history_user == coordinator
    assert history.history_change_reason == "Imported from course.xlsx"


def test_reimporting_the_same_file_changes_nothing(coordinator):
    content = workbook(course_sheets())
    assert run(coordinator, content, commit=True)["committed"]
    rows_before = sum(
        m.history.count() for m in (Patient, FirstLineResponse, Relapse, SalvageLine, Transplant, FollowUp)
    )
    report = run(coordinator, content, commit=True)
    assert report["committed"]
    assert all(c["create"] == 0 and c["update"] == 0 for c in report["sheets"].values())
    assert report["sheets"]["patients"]["unchanged"] == 1
    rows_after = sum(
        m.history.count() for m in (Patient, FirstLineResponse, Relapse, SalvageLine, Transplant, FollowUp)
    )
    assert rows_after == rows_before


def test_a_changed_row_updates_with_the_reason_and_needs_one(coordinator):
    sheets = course_sheets()
    assert run(coordinator, workbook(sheets), commit=True)["committed"]
    sheets["relapses"][1][2] = "CNS"
    changed = workbook(sheets)
    refused = run(coordinator, changed, commit=True)
    assert not refused["committed"]
    assert refused["problems"][0]["sheet"] == "relapses" and "reason for change" in refused["problems"][0]["message"]
    report = run(coordinator, changed, commit=True, reason="site corrected after source verification")
    assert report["committed"] and report["sheets"]["relapses"]["update"] == 1
    relapse = Relapse.objects.get()
    assert relapse.site == "CNS" and relapse.version == 2
    assert relapse.history.latest("history_date").history_change_reason == "site corrected after source verification"


def test_all_or_nothing_one_bad_row_keeps_the_good_ones_out(coordinator):
    sheets = course_sheets()
    sheets["patients"].append(patient_row("MLL96-0002", wbc="-5"))
    report = run(coordinator, workbook(sheets), commit=True)
    assert not report["committed"]
    assert ("patients", 3, "wbc", "rule") in kinds(report)
    assert not Patient.objects.exists()


def test_csv_per_entity_with_bom_and_semicolons(coordinator):
    header = ";".join(PATIENT_HEADER)
    row = ";".join(patient_row("MLL96-0001"))
    content = ("\ufeff" + header + "\r\n" + row + "\r\n").encode("utf-8")
    report = run(coordinator, content, name="export from site.csv", entity="patients", commit=True)
    assert report["committed"], report["problems"]
    relapses = b"study_id,relapse_date,site\nMLL96-0001,1996-11-25,BM\n"
    report = run(coordinator, relapses, name="relapses.csv")
    assert ("relapses", 2, "relapse_date", "chronology") in kinds(report)  # no CR1 recorded yet


def test_csv_entity_inferred_from_columns(coordinator):
    content = b"study_id,outcome,assessment_date\nMLL96-0001,CR,1996-06-13\n"
    report = run(coordinator, content, name="site42.csv")
    assert set(report["sheets"]) == {"first_line_responses"}


def test_unknown_and_missing_columns(coordinator):
    content = b"study_id,relapse_date,site,comment\nMLL96-0001,1996-11-25,BM,x\n"
    report = run(coordinator, content, name="relapses.csv")
    assert ("relapses", 1, "comment", "unknown_column") in kinds(report)
    report = run(coordinator, b"study_id,site\nMLL96-0001,BM\n", name="relapses.csv")
    assert ("relapses", 1, "relapse_date", "missing_column") in kinds(report)


@pytest.mark.parametrize("column", ["center", "trial"])
def test_a_patients_file_without_its_center_or_trial_column_is_reported_not_raised(coordinator, column):
    header = [c for c in PATIENT_HEADER if c != column]
    row = dict(zip(PATIENT_HEADER, patient_row("MLL96-0001"), strict=True))
    content = workbook(
        {
            "patients": [header, [row[c] for c in header]],
            "relapses": [["study_id", "relapse_date", "site"], ["MLL96-0001", "1996-11-25", "BM"]],
        }
    )
    report = run(coordinator, content, commit=True)
    assert ("patients", 1, column, "missing_column") in kinds(report)
    assert ("relapses", 2, "", "patient_not_checked") in kinds(report)
    assert not report["committed"] and not Patient.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "status"),
    [
        ("patients.csv", "study_id,center\nMLL96-0001,Tōkyō\n".encode("utf-16"), 400),
        ("patients.csv", "study_id\nMLL96-0001,é\n".encode("latin-1"), 400),
        ("patients.xlsx", b"PK\x03\x04 not really a zip", 400),
        ("patients.zip", b"PK\x03\x04 not really a zip", 400),
        ("patients.pdf", b"%PDF-1.4", 415),
        ("patients.csv", b"", 400),
    ],
)
def test_unreadable_files_are_refused_with_a_message(coordinator, name, content, status):
    with pytest.raises(imports.ImportRejected) as caught:
        run(coordinator, content, name=name)
    assert caught.value.status == status and caught.value.message


def zip_of(files):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def csv_text(rows):
    import csv

    buffer = io.StringIO()
    csv.writer(buffer).writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue()


def test_zip_of_csv_files_is_one_import(coordinator):
    sheets = course_sheets()
    content = zip_of({f"{name}.csv": csv_text(rows) for name, rows in sheets.items()})
    report = run(coordinator, content, name="course.zip", commit=True)
    assert report["committed"], report["problems"]
    assert Patient.objects.count() == 1 and FollowUp.objects.count() == 2


def test_zip_problems_are_located_by_file_row_and_column(coordinator):
    sheets = course_sheets()
    sheets["relapses"][1][2] = "LIVER"
    content = zip_of({**{f"{n}.csv": csv_text(r) for n, r in sheets.items()}, "notes.txt": "hello"})
    report = run(coordinator, content, name="course.zip", commit=True)
    assert not report["committed"]
    assert ("relapses", 2, "site", "unknown_code") in kinds(report)
    assert ("notes.txt", None, "", "unknown_sheet") in kinds(report)
    assert not Patient.objects.exists()


def test_unreadable_zip_members_and_zip_bombs_are_refused(coordinator, monkeypatch):
    content = zip_of({"patients.csv": "study_id\nMLL96-0001,é\n".encode("latin-1")})
    with pytest.raises(imports.ImportRejected) as caught:
        run(coordinator, content, name="course.zip")
    assert caught.value.message.startswith("patients.csv: The file is not UTF-8")
    monkeypatch.setattr(uploads, "MAX_UNZIPPED_BYTES", 1000)
    with pytest.raises(imports.ImportRejected) as caught:
        run(coordinator, zip_of({"patients.csv": "x" * 5000}), name="course.zip")
    assert caught.value.status == 413 and "unpacks to 5,000 bytes" in caught.value.message


def test_oversized_file_is_refused(coordinator, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_BYTES", 100)
    with pytest.raises(imports.ImportRejected) as caught:
        run(coordinator, b"x" * 101, name="patients.csv")
    assert caught.value.status == 413


def test_formula_cells_are_refused_and_apostrophes_undone(coordinator):
    sheets = course_sheets()
    sheets["salvage_lines"][1][1] = '=HYPERLINK("http://evil","FLAG")'
    report = run(coordinator, workbook(sheets))
    assert ("salvage_lines", 2, "regimen", "formula") in kinds(report)
    sheets["salvage_lines"][1][1] = "'=FLAG"
    report = run(coordinator, workbook(sheets), commit=True)
    assert report["committed"], report["problems"]
    assert SalvageLine.objects.get().regimen == "=FLAG"


def test_formula_looking_csv_cells_are_refused_where_they_are(coordinator):
    sheets = course_sheets()
    sheets["salvage_lines"][1][1] = '=HYPERLINK("http://evil","FLAG")'
    sheets["salvage_lines"][1][2] = "@SUM(A1)"
    content = zip_of({f"{name}.csv": csv_text(rows) for name, rows in sheets.items()})
    report = run(coordinator, content, name="course.zip", commit=True)
    assert not report["committed"]
    formulas = {(p["sheet"], p["row"], p["column"], p["value"]) for p in report["problems"] if p["kind"] == "formula"}
    assert formulas == {
        ("salvage_lines", 2, "regimen", '=HYPERLINK("http://evil","FLAG")'),
        ("salvage_lines", 2, "agents", "@SUM(A1)"),
    }
    assert not Patient.objects.exists()


def test_csv_negative_numbers_and_escaped_text_are_data_not_formulas(coordinator):
    header = SHEETS_BY_NAME["patients"].column_names
    row = patient_row("MLL96-0001", wbc="-1")
    report = run(coordinator, csv_text([header, row]).encode(), name="patients.csv")
    assert not [p for p in report["problems"] if p["kind"] == "formula"], report["problems"]
    assert ("patients", 2, "wbc", "formula") not in kinds(report)
    sheets = course_sheets()
    sheets["salvage_lines"][1][1] = "'=FLAG"
    content = zip_of({f"{name}.csv": csv_text(rows) for name, rows in sheets.items()})
    report = run(coordinator, content, name="course.zip", commit=True)
    assert report["committed"], report["problems"]
    assert SalvageLine.objects.get().regimen == "=FLAG"


def test_only_coordinators_import_and_only_their_center(coordinator, data_manager, other_center):
    report = run(data_manager, workbook(course_sheets()), commit=True)
    assert report["problems"][0]["kind"] == "permission"
    report = run(coordinator, workbook(course_sheets(center="OSK02")), commit=True)
    assert ("patients", 2, "center", "permission") in kinds(report)
    assert not Patient.objects.exists()


def test_events_of_another_centers_patient_are_unknown(coordinator, other_center):
    PatientFactory(center=other_center, study_id="MLL98-0002")
    report = run(coordinator, b"study_id,outcome,assessment_date\nMLL98-0002,CR,1996-06-13\n", name="x.csv")
    assert ("first_line_responses", 2, "study_id", "unknown_study_id") in kinds(report)


def test_locked_patient_rows_are_refused(coordinator, data_manager):
    from registry import services

    assert run(coordinator, workbook(course_sheets()), commit=True)["committed"]
    services.review_patient(user=data_manager, patient=Patient.objects.get(), source="test", lock=True, reason="locked")
    sheets = course_sheets()
    sheets["relapses"][1][2] = "CNS"
    report = run(coordinator, workbook(sheets), commit=True, reason="fix")
    assert report["problems"][0]["kind"] == "permission"


def test_large_file_runs_as_a_task_with_progress(coordinator, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(jobs, "ASYNC_BYTES", 10)
    job = imports.create_job(user=coordinator, file_name="course.xlsx", content=workbook(course_sheets()))
    with django_capture_on_commit_callbacks(execute=True):
        imports.start(job, action="check")
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CHECKED
    assert job.rows_done == job.rows_total == 7
    with django_capture_on_commit_callbacks(execute=True):
        imports.start(job, action="commit")
    job.refresh_from_db()
    assert job.status == ImportJob.Status.COMMITTED
    assert Patient.objects.count() == 1


def test_commit_needs_a_clean_dry_run(coordinator):
    job = imports.create_job(user=coordinator, file_name="x.csv", content=b"study_id,site\nMLL96-0001,BM\n")
    job = imports.start(job, action="check")
    assert job.status == ImportJob.Status.REJECTED
    with pytest.raises(imports.ImportRejected) as caught:
        imports.start(job, action="commit")
    assert caught.value.status == 409


def _sheet_values(xlsx):
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(xlsx), read_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def _empty_registry():
    with audit_context(reason="round trip test", source="test"):
        Patient.objects.all().delete()


def test_round_trip_export_import_export_is_identical(coordinator, admin_user, center):
    for i in range(1, 4):
        relapsed_course(PatientFactory(center=center, study_id=f"MLL96-{i:04d}"))
    PatientFactory(center=center, study_id="MLL98-0010", wbc="12.5")
    first_xlsx, _, _ = exports.export(user=admin_user, kind="identified", fmt="xlsx", source="test")
    first_csv, _, _ = exports.export(user=admin_user, kind="analysis", fmt="csv", source="test")
    _empty_registry()
    assert not Patient.objects.exists()
    report = run(coordinator, first_xlsx, name="mll_identified.xlsx", commit=True)
    assert report["committed"], report["problems"]
    second_xlsx, _, _ = exports.export(user=admin_user, kind="identified", fmt="xlsx", source="test")
    second_csv, _, _ = exports.export(user=admin_user, kind="analysis", fmt="csv", source="test")
    assert _sheet_values(second_xlsx) == _sheet_values(first_xlsx)
    assert second_csv == first_csv


def test_round_trip_of_the_csv_zip_across_centers_as_the_system(admin_user, center, other_center):
    import zipfile

    relapsed_course(PatientFactory(center=center, study_id="MLL96-0001"))
    relapsed_course(PatientFactory(center=other_center, study_id="MLL98-0001"))
    first, _, _ = exports.export(user=admin_user, kind="identified", fmt="zip", source="test")
    _empty_registry()
    archive = zipfile.ZipFile(io.BytesIO(first))
    for sheet in SHEETS:  # one CSV file at a time: patients first, then their events
        report = run(None, archive.read(f"{sheet.name}.csv"), name=f"{sheet.name}.csv", commit=True)
        assert report["committed"], report["problems"]
    second, _, _ = exports.export(user=admin_user, kind="identified", fmt="zip", source="test")
    again = zipfile.ZipFile(io.BytesIO(second))
    for sheet in SHEETS:
        assert again.read(f"{sheet.name}.csv") == archive.read(f"{sheet.name}.csv")
    _empty_registry()
    report = run(None, first, name="mll_identified.zip", commit=True)  # the whole archive as one file
    assert report["committed"], report["problems"]
    assert report["sheets"]["relapses"]["create"] == 2
    second, _, _ = exports.export(user=admin_user, kind="identified", fmt="zip", source="test")
    again = zipfile.ZipFile(io.BytesIO(second))
    for sheet in SHEETS:
        assert again.read(f"{sheet.name}.csv") == archive.read(f"{sheet.name}.csv")


def test_template_workbook_imports_cleanly_after_adding_a_center(coordinator):
    from registry.transfer.data_dictionary import template_workbook

    report = run(coordinator, template_workbook(), name="template.xlsx")
    # The example rows are one consistent course; only their center differs from the coordinator's.
    assert {p["kind"] for p in report["problems"]} <= {"unknown_center", "permission"}, report["problems"]


def test_dates_as_excel_date_cells(coordinator):
    sheets = course_sheets()
    sheets["relapses"][1][1] = date(1996, 11, 25)
    assert run(coordinator, workbook(sheets), commit=True)["committed"]


# --- The pages ------------------------------------------------------------------------------


def test_import_page_upload_report_commit(client, coordinator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(coordinator)
    assert client.get("/imports/").status_code == 200
    upload = SimpleUploadedFile("course.xlsx", workbook(course_sheets()))
    response = client.post("/imports/", {"file": upload, "entity": "", "reason": ""})
    assert response.status_code == 302
    job = ImportJob.objects.get()
    page = client.get(response["Location"])
    assert b"No problems found" in page.content and b"Commit the import" in page.content
    assert client.get(f"/imports/{job.pk}/status.json").json()["finished"] is True
    response = client.post(f"/imports/{job.pk}/commit/")
    assert response.status_code == 302
    assert Patient.objects.count() == 1


def test_import_page_shows_problems_by_row(client, coordinator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(coordinator)
    content = b"study_id,relapse_date,site\nMLL96-9999,1996-02-30,XX\n"
    response = client.post("/imports/", {"file": SimpleUploadedFile("relapses.csv", content)}, follow=True)
    text = response.content.decode()
    assert "Impossible date" in text and "Unknown code" in text and "Commit the import" not in text


def test_import_page_refuses_unreadable_files_with_a_message(client, coordinator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(coordinator)
    response = client.post("/imports/", {"file": SimpleUploadedFile("x.csv", "a\n".encode("utf-16"))})
    assert response.status_code == 400 and b"UTF-8" in response.content


def test_import_page_upload_is_for_coordinators(client, investigator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(investigator)
    assert client.get("/imports/").status_code == 200
    response = client.post("/imports/", {"file": SimpleUploadedFile("x.csv", b"study_id\n")})
    assert response.status_code == 403


def test_other_users_jobs_are_404(client, coordinator, other_coordinator):
    job = imports.create_job(user=coordinator, file_name="x.csv", content=b"study_id,site\n")
    client.force_login(other_coordinator)
    assert client.get(f"/imports/{job.pk}/").status_code == 404


def _japanese(text):
    return any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in text)


def _problem_file():
    """Cell problems, a reference problem and a course (chronology) rule, one of each."""
    sheets = course_sheets("MLL96-0001")
    sheets["patients"].append(patient_row("MLL96-0002", sex="X", date_of_birth="1996-02-30"))
    sheets["relapses"].append(["MLL96-0001", "1990-01-01", "BM"])  # before diagnosis
    sheets["relapses"].append(["MLL96-9999", "1997-01-01", "BM"])
    sheets["relapses"].append(["MLL96-0002", "1997-01-01", "BM"])  # its patient row has problems
    return workbook(sheets)


def test_a_worker_writes_the_report_in_the_language_of_whoever_started_the_job(coordinator, monkeypatch):
    from django.utils import translation

    monkeypatch.setattr(jobs, "ASYNC_BYTES", 10)  # a Celery task, run below as the worker runs it
    with translation.override("ja"):
        job = imports.create_job(user=coordinator, file_name="course.xlsx", content=_problem_file())
        imports.start(job, action="check")
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED and job.report["language"] == "ja"
    assert translation.get_language() != "ja"
    jobs.run_job(job.pk)  # the worker: no request, the default language active
    job.refresh_from_db()
    assert job.status == ImportJob.Status.REJECTED and job.report["language"] == "ja"
    messages = {p["kind"]: p["message"] for p in job.report["problems"]}
    assert "不明なコード 'X'" in messages["unknown_code"]
    assert "存在しない日付 1996-02-30" in messages["impossible_date"]
    assert "不明な研究ID" in messages["unknown_study_id"]
    assert "再発" in messages["chronology"]  # the services' course rules, gettext already
    assert all(_japanese(p["message"]) for p in job.report["problems"]), job.report["problems"]
    assert "症例 MLL96-0002" in messages["patient_not_checked"]
    # Started again in English, the same file reports in English.
    imports.start(job, action="check")
    jobs.run_job(job.pk)
    job.refresh_from_db()
    assert job.report["language"] == "en"
    assert "Unknown code 'X'" in {p["kind"]: p["message"] for p in job.report["problems"]}["unknown_code"]


@pytest.mark.django_db(transaction=True)
def test_a_jobs_outcome_and_the_close_of_its_hand_off_commit_together(seen_at_hand_off_close, coordinator, monkeypatch):
    """A watcher (another connection) never sees a finished job still handed off."""
    seen = seen_at_hand_off_close("registry_importjob")
    monkeypatch.setattr(jobs, "ASYNC_BYTES", 10)
    job = imports.create_job(user=coordinator, file_name="course.xlsx", content=_problem_file())
    imports.start(job, action="check")  # in process: the job runs here
    assert seen == [ImportJob.Status.RUNNING]
    assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.REJECTED


def test_every_import_problem_message_is_translated(coordinator):
    """Each kind of problem the import finds comes out in Japanese (no English sentence left)."""
    from django.utils import translation

    sheets = course_sheets("MLL96-0001")
    sheets["patients"][0] = [*PATIENT_HEADER, "sex", "colour"]  # a column twice, an unknown column
    sheets["patients"][1] = patient_row("MLL96-0001") + ["F", "red"]
    sheets["patients"].append(patient_row("MLL96-0003", trial="MLL00", center="NOPE") + ["F", "red"])
    sheets["patients"].append(patient_row("MLL96-0004", wbc="lots", registration_date="") + ["F", "red"])
    sheets["relapses"].append(["MLL96-0001", "1996-11-25", "BM"])  # the same key twice
    sheets["follow_ups"] = [
        ["study_id", "contact_date", "vital_status", "lost_to_follow_up"],
        ["MLL96-0001", "2001-10-30", "ALIVE", "maybe"],
        ["MLL96-0001", datetime(1998, 1, 15, 10, 30), "ALIVE", "0"],
        ["MLL96-0001", "15/01/1999", "ALIVE", "0"],
    ]
    with translation.override("ja"):
        report = run(coordinator, workbook(sheets))
    found = {p["kind"] for p in report["problems"]}
    assert {"duplicate_column", "unknown_column", "unknown_code", "unknown_center", "type", "required"} <= found, (
        report["problems"]
    )
    for problem in report["problems"]:
        assert _japanese(problem["message"]), problem
        assert not any(word in problem["message"] for word in ("column", "Unknown", "expected", "Not ")), problem


def test_import_page_in_japanese_shows_the_problems_in_japanese(client, coordinator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(coordinator)
    content = b"study_id,relapse_date,site\nMLL96-9999,1996-02-30,XX\n"
    response = client.post(
        "/imports/", {"file": SimpleUploadedFile("relapses.csv", content)}, follow=True, HTTP_ACCEPT_LANGUAGE="ja"
    )
    text = html.unescape(response.content.decode())
    assert "存在しない日付 1996-02-30" in text and "不明なコード 'XX'" in text
    assert "Impossible date" not in text and "Unknown code" not in text


# --- The import's records, built as Django builds them -------------------------------------------


@pytest.mark.parametrize("sheet", SHEETS, ids=lambda sheet: sheet.name)
def test_a_new_record_is_built_as_the_models_constructor_builds_it(coordinator, center, sheet):
    """``courses._new_record`` skips the constructor's walk over every field's default; the record
    it builds (values, relations and their caches, state) is the constructor's."""
    from django.db.models.base import ModelState

    from registry.transfer.imports.courses import _new_record

    patient = PatientFactory.build(center=center)
    values = {c.name: getattr(_example_record(sheet, patient), c.name) for c in sheet.columns if c.name != "study_id"}
    if sheet.name != "patients":
        values["patient"] = patient
    built, expected = _new_record(sheet.model, dict(values)), sheet.model(**values)
    assert type(built._state) is ModelState

    def state(record):
        fields = {k: v for k, v in vars(record).items() if k != "_state"}
        return fields, record._state.adding, record._state.db, record._state.fields_cache

    assert state(built) == state(expected)
    if sheet.name == "first_line_responses":  # a one-to-one relation caches the record on its patient
        assert patient.first_line_response is expected
        _new_record(sheet.model, dict(values))
        assert patient.first_line_response is not expected


def _example_record(sheet, patient):
    from tests import factories

    if sheet.name == "patients":
        return patient
    name = {"first_line_responses": "FirstLineResponse", "follow_ups": "FollowUp"}.get(sheet.name)
    name = name or sheet.model.__name__
    return getattr(factories, f"{name}Factory").build(patient=patient)


def test_a_receiver_of_the_init_signals_gets_the_models_constructor(center):
    from django.db.models.signals import post_init

    from registry.transfer.imports.courses import _new_record

    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Relapse)
    try:
        patient = PatientFactory.build(center=center)
        relapse = _new_record(Relapse, {"patient": patient, "relapse_date": date(1996, 11, 25), "site": "BM"})
    finally:
        post_init.disconnect(receiver, sender=Relapse)
    assert seen == [relapse]


@pytest.mark.parametrize("enabled", [True, False])
def test_the_import_leaves_the_garbage_collector_as_it_found_it(coordinator, enabled):
    import gc

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        run(coordinator, workbook(course_sheets()))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
