"""Reading an uploaded file into tables: a CSV file, an XLSX workbook or a ZIP archive of CSV files.

CSV files are UTF-8 (with or without a byte-order mark) or Shift_JIS as Japanese Excel writes it
(CP932), chosen or worked out (``registry.transfer.encodings``).

Each table is one sheet (one entity of ``registry.transfer.data_dictionary``) with its header
and its non-blank rows numbered as a spreadsheet shows them. A file that cannot be read at all
is refused with ``ImportRejected``; what is wrong inside a readable file is a located ``Problem``.
Formulas are refused in both kinds of file: XLSX formula cells, and CSV cells a spreadsheet
would run as one (``registry.transfer.spreadsheet``).
"""

import csv
import io
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import chain
from pathlib import PurePath

from django.utils.translation import gettext as _

from .. import encodings, uploads
from ..data_dictionary import IGNORED_SHEETS, SHEETS, SHEETS_BY_NAME
from ..spreadsheet import looks_like_formula
from ..uploads import ImportRejected
from .cells import Problem, normalise


@dataclass
class Table:
    sheet: str
    header: list  # normalised column names, in file order
    rows: list  # (row number, [cell values]) with blank rows left out
    encoding: str = ""  # a CSV file's text encoding as read (``encodings.UTF8`` or ``CP932``)


def file_kind(file_name):
    suffix = PurePath(file_name or "").suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".zip":
        return "zip"
    raise ImportRejected(
        _("Unsupported file type %(suffix)s: upload a .csv, .xlsx or .zip (of CSV files) file.")
        % {"suffix": repr(suffix or "(none)")},
        status=415,
    )


def read_tables(file_name, content, entity="", encoding=encodings.AUTO):
    """Split ``content`` into tables, one per sheet (or the one CSV), and report file-level problems.

    ``encoding`` is that of CSV files (one, or each in a ZIP): ``auto``, ``utf-8`` or ``cp932``
    (``registry.transfer.encodings``).
    """
    uploads.check_file_size(len(content))
    if not content:
        raise ImportRejected(_("The file is empty."))
    encodings.check_import_encoding(encoding)
    kind = file_kind(file_name)
    if kind == "csv":
        return _read_csv(file_name, content, entity, encoding)
    if kind == "zip":
        return _read_zip(content, encoding)
    return _read_xlsx(content)


def check_entity(entity):
    """Refuse an entity (the sheet a CSV file holds) the data dictionary does not know."""
    if entity and entity not in SHEETS_BY_NAME:
        raise ImportRejected(
            _("Unknown entity %(entity)s; choose one of %(entities)s.")
            % {"entity": repr(entity), "entities": ", ".join(SHEETS_BY_NAME)}
        )


def _read_zip(content, encoding):
    """A ZIP archive of CSV files, one per entity and named after it (as the identified export)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ImportRejected(
            _("The file is not a readable ZIP archive (%(error)s).") % {"error": type(error).__name__}
        ) from None
    uploads.check_unzipped_size(sum(m.file_size for m in members))
    tables, problems = [], []
    for member in members:
        name = PurePath(member.filename).name
        stem = normalise(PurePath(name).stem)
        if PurePath(name).suffix.lower() != ".csv" or stem not in SHEETS_BY_NAME:
            if stem not in IGNORED_SHEETS:
                problems.append(
                    Problem(
                        name,
                        None,
                        "",
                        _("Unexpected file %(name)s in the archive; it holds one CSV file per entity, named %(files)s.")
                        % {"name": repr(name), "files": ", ".join(s + ".csv" for s in SHEETS_BY_NAME)},
                        "unknown_sheet",
                    )
                )
            continue
        try:
            data = archive.read(member)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as error:
            raise ImportRejected(
                _("%(name)s cannot be unpacked (%(error)s).") % {"name": repr(name), "error": type(error).__name__}
            ) from None
        try:
            found, found_problems = _read_csv(name, data, stem, encoding)
        except ImportRejected as error:
            raise ImportRejected(f"{name}: {error.message}", status=error.status) from None
        tables += found
        problems += found_problems
    if not tables and not problems:
        problems.append(
            Problem("", None, "", _("The archive holds no CSV file named after an entity."), "unknown_sheet")
        )
    return tables, problems


def _read_csv(file_name, content, entity, encoding):
    text, used = encodings.decode(content, encoding)
    if "\x00" in text:
        raise ImportRejected(_("The file holds NUL bytes: it is not a CSV text file."))
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        raw = list(reader)
    except csv.Error as error:
        raise ImportRejected(_("The CSV file cannot be read: %(error)s.") % {"error": error}) from None
    if not raw:
        raise ImportRejected(_("The file is empty."))
    header = [normalise(h) for h in raw[0]]
    rows = [(i, r) for i, r in enumerate(raw[1:], start=2) if any(cell.strip() for cell in r)]
    uploads.check_row_count(len(rows), repr(PurePath(file_name).name))
    sheet = _csv_sheet(file_name, header, entity)
    if sheet is None:
        names = ", ".join(s.name for s in SHEETS)
        problem = Problem(
            PurePath(file_name).stem,
            1,
            "",
            _(
                "Cannot tell which entity this CSV file holds from its columns; name the file after it "
                "(e.g. relapses.csv) or choose the entity. Entities: %(names)s."
            )
            % {"names": names},
            "unknown_sheet",
        )
        return [], [problem]
    return [Table(sheet, header, rows, used)], _csv_formulas(sheet, header, rows)


def _csv_formulas(sheet, header, rows):
    """Blank and report every CSV cell a spreadsheet would run as a formula, as XLSX formula cells are.

    Text our own exports wrote with a leading apostrophe is data (``cells.parse_cell`` drops the
    apostrophe); so is a plain number such as -1.
    """
    formulas = {cell for cell in set(chain.from_iterable(cells for _, cells in rows)) if _is_formula(cell)}
    if not formulas:  # the usual file: each distinct cell tested once, no row walked
        return []
    problems = []
    for number, cells in rows:
        for i, cell in enumerate(cells):
            if cell in formulas:
                column = header[i] if i < len(header) else ""
                problems.append(_formula_problem(sheet, number, column, cell, csv=True))
                cells[i] = None
    return problems


def _is_formula(cell):
    """Text a spreadsheet would run as a formula; a plain number such as -1 or +2.5 is data
    (a spreadsheet reads it as the number, as an XLSX number cell holds it)."""
    text = cell.lstrip(" ")
    if not looks_like_formula(text):
        return False
    try:
        return not Decimal(text.strip()).is_finite()
    except InvalidOperation:
        return True


def _formula_problem(sheet, number, column, value, *, csv):
    if csv:
        message = _(
            "This cell would run as a formula in a spreadsheet (it starts with =, +, -, @ or a tab); formulas "
            "are not accepted. Write the value, or put an apostrophe before text that starts so."
        )
    else:
        message = _("Formulas are not accepted; paste the values.")
    return Problem(sheet, number, column, message, "formula", str(value)[:80])


def _csv_sheet(file_name, header, entity):
    if entity:
        check_entity(entity)
        return entity
    stem = normalise(PurePath(file_name).stem)
    if stem in SHEETS_BY_NAME:
        return stem
    columns = set(header)
    fits = [
        s.name
        for s in SHEETS
        if columns <= set(s.column_names) and {c.name for c in s.columns if c.required} <= columns
    ]
    return fits[0] if len(fits) == 1 else None


def _read_xlsx(content):
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as error:
        raise ImportRejected(
            _("The file is not a readable XLSX workbook (%(error)s).") % {"error": type(error).__name__}
        ) from None
    tables, problems = [], []
    try:
        for ws in workbook.worksheets:
            name = normalise(ws.title)
            if name in IGNORED_SHEETS:
                continue
            if name not in SHEETS_BY_NAME:
                problems.append(
                    Problem(
                        ws.title,
                        None,
                        "",
                        _("Unknown sheet %(sheet)s; sheets are named %(sheets)s (README and codes are ignored).")
                        % {"sheet": repr(ws.title), "sheets": ", ".join(SHEETS_BY_NAME)},
                        "unknown_sheet",
                    )
                )
                continue
            table, found = _read_sheet(ws, name)
            tables.append(table)
            problems += found
    finally:
        workbook.close()
    if not tables and not problems:
        problems.append(Problem("", None, "", _("The workbook holds no sheet named after an entity."), "unknown_sheet"))
    return tables, problems


def _read_sheet(ws, name):
    """One worksheet as a table; its formula cells are blanked and reported."""
    header, rows, problems = None, [], []
    for number, cells in enumerate(ws.iter_rows(), start=1):
        values = []
        for i, cell in enumerate(cells):
            value = getattr(cell, "value", None)
            if getattr(cell, "data_type", None) == "f":
                column = header[i] if header and i < len(header) else ""
                problems.append(_formula_problem(ws.title, number, column, value, csv=False))
                value = None
            values.append(value)
        if header is None:
            header = [normalise(v) for v in values]
            while header and not header[-1]:
                header.pop()
            continue
        if any(v not in (None, "") for v in values):
            rows.append((number, values))
            uploads.check_row_count(len(rows), _("sheet %(sheet)s") % {"sheet": repr(ws.title)})
    return Table(name, header or [], rows), problems
