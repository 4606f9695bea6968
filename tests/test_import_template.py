"""The import template workbook: drop-down code lists on every coded column, and an example that imports."""

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from registry.transfer import imports
from registry.transfer.data_dictionary import CODE, SHEETS, allowed_codes, template_workbook
from registry.vocabularies import standard
from registry.vocabularies.models import forget_cached


@pytest.fixture(scope="module")
def workbook(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():  # the regimen codes' drop-down lists the database's regimen list
        # (as migrate leaves it: an earlier transactional test's flush may have emptied it)
        standard.ensure()
        forget_cached()
        return load_workbook(io.BytesIO(template_workbook()))


def _listed(workbook, formula):
    """The values a list validation offers: a quoted list, or a range of the codes sheet."""
    if formula.startswith('"'):
        return formula.strip('"').split(",")
    sheet, cells = formula.split("!")
    return [row[0].value for row in workbook[sheet][cells.replace("$", "")]]


@pytest.mark.django_db  # the regimen codes are the database's list
def test_every_coded_column_has_a_drop_down_of_its_codes(workbook):
    for sheet in SHEETS:
        ws = workbook[sheet.name]
        by_column = {}
        for validation in ws.data_validations.dataValidation:
            assert validation.type == "list" and validation.showErrorMessage
            for cells in validation.sqref.ranges:
                by_column[cells.min_col] = (cells, validation)
        coded = [(i, c) for i, c in enumerate(sheet.columns, start=1) if c.kind == CODE]
        assert coded and {i for i, _ in coded} == set(by_column), sheet.name
        for i, column in coded:
            cells, validation = by_column[i]
            assert (cells.min_row, cells.max_row) == (2, 1_048_576), column.name  # every data row, not the header
            assert _listed(workbook, validation.formula1) == list(allowed_codes(column)), column.name


def test_the_example_is_one_course_of_an_mll98_infant_in_date_order(workbook):
    examples = {
        sheet.name: dict(
            zip(sheet.column_names, next(workbook[sheet.name].iter_rows(min_row=2, values_only=True)), strict=True)
        )
        for sheet in SHEETS
    }
    patient = examples["patients"]
    assert patient["trial"] == "MLL98" and patient["study_id"].startswith("MLL98-")
    assert {row["study_id"] for row in examples.values()} == {patient["study_id"]}
    course = [
        patient["date_of_birth"],
        patient["diagnosis_date"],
        examples["first_line_responses"]["assessment_date"],
        examples["relapses"]["relapse_date"],
        examples["salvage_lines"]["start_date"],
        examples["salvage_lines"]["response_date"],
        examples["transplants"]["transplant_date"],
        examples["follow_ups"]["contact_date"],
    ]
    days = [date.fromisoformat(d) for d in course]
    assert days == sorted(days) and len(set(days)) == len(days)


def test_the_example_rows_pass_the_imports_own_dry_run(coordinator):
    """The example's center is TKY01, the coordinator's: nothing at all to fix."""
    report = imports.check_and_write(user=coordinator, file_name="template.xlsx", content=template_workbook())
    assert report["problem_count"] == 0, report["problems"]
    assert all(counts["create"] == 1 and counts["error"] == 0 for counts in report["sheets"].values())
    committed = imports.check_and_write(
        user=coordinator, file_name="template.xlsx", content=template_workbook(), commit=True
    )
    assert committed["committed"], committed["problems"]
