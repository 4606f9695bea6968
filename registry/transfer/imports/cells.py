"""One cell of an import file: its Python value for its column, or the problem with it.

``parse_cell`` is the one rule for a cell; ``parse_column`` applies it to a whole column, once per
distinct cell (a column of 100,000 rows holds a few codes, some thousand dates or numbers).
Also the located ``Problem`` every part of the import reports (sheet, spreadsheet row, column).
"""

import functools
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from ..data_dictionary import BOOLEAN, CODE, DATE, DECIMAL, INTEGER, allowed_codes
from ..spreadsheet import restore

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


@dataclass
class Problem:
    """Something wrong with the file, located by sheet, spreadsheet row (the header is row 1) and column."""

    sheet: str
    row: int | None
    column: str
    message: str
    kind: str
    value: str = ""

    def as_dict(self):
        return asdict(self)


class CellError(Exception):
    """A cell that cannot be read for its column; ``kind`` names the problem (type, unknown_code, ...)."""

    def __init__(self, message, kind):
        super().__init__(message)
        self.message = message
        self.kind = kind


def normalise(name):
    """A sheet, file or column name as the data dictionary spells it (lower case, underscores)."""
    return re.sub(r"[\s\-]+", "_", str(name or "").strip().lower())


def _text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return restore(str(value).strip())  # drop the apostrophe our exports put before formula-looking text


def _codes_by_upper(column):
    return _by_upper(allowed_codes(column))  # regimen codes are database rows: read each time (cached there)


@functools.cache
def _by_upper(codes):
    return {code.upper(): code for code in codes}


def parse_cell(column, value):
    """The Python value of one cell for ``column`` (None or "" when blank); raises CellError."""
    if column.kind == DATE:
        return _date(value)
    if column.kind == DECIMAL:
        return _decimal(value)
    if column.kind == INTEGER:
        text = _text(value)
        if not text:
            return None
        if not re.fullmatch(r"-?\d+", text):
            raise CellError(_("A whole number is expected."), "type")
        return int(text)
    if column.kind == BOOLEAN:
        if isinstance(value, bool):
            return value
        text = _text(value).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise CellError(_("Write 1 or 0 (or TRUE / FALSE)."), "type")
    if column.kind == CODE:
        text = _text(value)
        if not text:
            return ""
        by_upper = _codes_by_upper(column)
        if text.upper() not in by_upper:
            raise CellError(
                _("Unknown code %(code)s; allowed: %(codes)s.")
                % {"code": repr(text), "codes": ", ".join(allowed_codes(column))},
                "unknown_code",
            )
        return by_upper[text.upper()]
    return _text(value)


def parse_column(column, cells):
    """``parse_cell`` for every cell of ``column``: (values, {position: CellError}).

    Each distinct cell is parsed once and its value or error shared by every row that holds it;
    a failed cell's value is None. XLSX cells are told apart by their type and repr (True, 1, 1.0
    and -0.0 are equal in Python but not as cells).
    """
    if set(map(type, cells)) <= _CSV_CELL_TYPES:
        keys = cells
    else:
        keys = [(type(cell), repr(cell)) for cell in cells]
    values, errors = {}, {}
    for key, cell in dict(zip(keys, cells, strict=True)).items():
        try:
            values[key] = parse_cell(column, cell)
        except CellError as error:
            values[key] = None
            errors[key] = error
    parsed = list(map(values.__getitem__, keys))
    if not errors:
        return parsed, {}
    return parsed, {i: errors[key] for i, key in enumerate(keys) if key in errors}


_CSV_CELL_TYPES = {str, type(None)}  # a CSV cell, or None for a cell a short row lacks


def _date(value):
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            raise CellError(_("A date without a time of day is expected."), "type")
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    match = _ISO_DATE.match(text)
    if not match:
        raise CellError(_("Not a date: write it as YYYY-MM-DD."), "type")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise CellError(_("Impossible date %(date)s (no such day).") % {"date": text}, "impossible_date") from None


def _decimal(value):
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise CellError(_("A number is expected."), "type")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else _text(value).replace(" ", ""))
    except InvalidOperation:
        raise CellError(_("Not a number (use a point for decimals, e.g. 312.5)."), "type") from None
    if not number.is_finite():
        raise CellError(_("Not a number."), "type")
    return number


def blank_value(column):
    """The value of a column the file does not have: None for dates and numbers, False, or ""."""
    if column.kind in (DATE, DECIMAL, INTEGER):
        return None
    return False if column.kind == BOOLEAN else ""
