"""Report tables as CSV and XLSX files, and the whole report as PDF."""

import csv
import io
import re
from datetime import datetime
from types import SimpleNamespace

from openpyxl import load_workbook

from analysis import report_files, reports


def formula_table():
    return reports.Table(
        "t",
        "Title",
        "cohort_summary",
        ["Name", "Value"],
        [reports.Row(['=HYPERLINK("http://x")', "+1"]), reports.Row(["@SUM(A1)", 3])],
    )


def test_formula_cells_are_neutralised_in_csv_and_xlsx():
    table = formula_table()
    rows = list(csv.reader(io.StringIO(report_files.table_csv(table))))
    assert rows[2] == ['\'=HYPERLINK("http://x")', "'+1"]
    assert rows[3] == ["'@SUM(A1)", "3"]
    book = load_workbook(io.BytesIO(report_files.table_xlsx(table)))
    sheet = book.active
    assert sheet["A3"].value == '\'=HYPERLINK("http://x")' and sheet["A3"].data_type == "s"
    assert sheet["B4"].value == 3


def test_files_carry_the_provenance_of_their_run():
    table = formula_table()
    table.provenances = [
        SimpleNamespace(
            run_id=7,
            analysis="cohort_summary",
            finished=datetime(2024, 5, 1, 12, 30),
            n_patients=80,
            selection="MLL96 and MLL98, all centers",
            data_revision=3,
            stale=True,
            fingerprint="f" * 64,
            code_version="c0de",
        )
    ]
    text = report_files.table_csv(table)
    assert "analysis run 7 (cohort_summary), finished 2024-05-01 12:30 UTC; 80 patients" in text
    assert "(the registry has changed since)" in text and "code version c0de" in text


def test_the_report_as_pdf_has_a_page_per_table():
    report = reports.numbered([reports.Section("s", "S", ["cohort_summary"], tables=[formula_table()])])
    pdf = report_files.report_pdf(report, {}, heading="Report", provenance_text=["Selection: all"])
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 2  # the title page and the table


def test_every_pdf_page_is_a4_portrait_and_figures_have_captions_under_them():
    from analysis import analyses
    from tests.analysis.report_data import os_results

    results = {"os_after_second_line": os_results()}
    report = analyses.build_report(results)
    specs = analyses.figure_specs("os_after_second_line", results["os_after_second_line"])
    pdf = report_files.report_pdf(report, specs, heading="Report", provenance_text=["Selection: all"])
    boxes = set(re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf))
    assert boxes == {(b"595.44", b"841.68")}  # 8.27 x 11.69 inches: A4 portrait, every page
