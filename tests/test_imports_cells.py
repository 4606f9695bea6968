"""registry.transfer.imports.cells: a whole column parsed once per distinct cell, as cell by cell."""

import random
from datetime import date, datetime

import pytest

from registry.transfer.data_dictionary import SHEETS
from registry.transfer.imports.cells import CellError, parse_cell, parse_column

pytestmark = pytest.mark.django_db  # regimen codes are rows of the database

# CSV text and the typed cells of an XLSX sheet, good and bad for every kind of column; equal in
# Python but not as cells: True, 1, 1.0 and -0.0; a date and midnight of that day.
CELLS = [
    None,
    "",
    " ",
    "1996-05-09",
    "1996-5-9",
    "1996-02-30",
    "09/05/1996",
    "150.0",
    "150.00",
    " 1 000.5 ",
    "-5",
    "NaN",
    "Infinity",
    "1",
    "0",
    "yes",
    "TRUE",
    "cr",
    "CR",
    "af4",
    "FLAG",
    "flag",
    "MLL96",
    "MLL96-0001",
    "'=1+1",
    "'-1",
    "x" * 40,
    True,
    False,
    1,
    1.0,
    0,
    -0.0,
    0.0,
    150.5,
    date(1996, 5, 9),
    datetime(1996, 5, 9),
    datetime(1996, 5, 9, 12, 30),
]


def one_by_one(column, cells):
    values, errors = [], {}
    for i, cell in enumerate(cells):
        try:
            values.append(parse_cell(column, cell))
        except CellError as error:
            values.append(None)
            errors[i] = (error.message, error.kind)
    # Compared by type and text: a Decimal keeps its digits, a date is not a datetime.
    return [(type(v), str(v)) for v in values], errors


@pytest.mark.parametrize("column", [c for sheet in SHEETS for c in sheet.columns], ids=lambda c: c.name)
def test_a_column_parses_as_its_cells_one_by_one(column):
    cells = CELLS * 3
    random.Random(column.name).shuffle(cells)
    values, errors = parse_column(column, cells)
    expected_values, expected_errors = one_by_one(column, cells)
    assert [(type(v), str(v)) for v in values] == expected_values
    assert {i: (e.message, e.kind) for i, e in errors.items()} == expected_errors


def test_csv_cells_are_parsed_once_per_distinct_text(monkeypatch):
    from registry.transfer.imports import cells as cells_module

    column = next(c for c in SHEETS[0].columns if c.name == "diagnosis_date")
    parsed = []
    original = cells_module.parse_cell
    monkeypatch.setattr(cells_module, "parse_cell", lambda column, cell: parsed.append(cell) or original(column, cell))
    values, errors = parse_column(column, ["1996-05-09", "1996-02-30", "1996-05-09", None] * 1000)
    assert sorted(parsed, key=str) == ["1996-02-30", "1996-05-09", None]
    assert values[:4] == [date(1996, 5, 9), None, date(1996, 5, 9), None]
    assert sorted(errors) == list(range(1, 4000, 4))
