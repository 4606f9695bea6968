"""File writers shared by the exports: CSV, XLSX, ZIP, and SAS / Stata / SPSS through pyreadstat.

CSV is UTF-8 with a byte-order mark, or Shift_JIS (CP932) on request (``registry.transfer.encodings``).

Text that a spreadsheet would run as a formula is neutralised (``registry.transfer.spreadsheet``)
in CSV and XLSX. Tables are ``(header, rows)`` with Python values (None for missing).
"""

import csv
import io
import os
import tempfile
import zipfile
from datetime import date

from .. import encodings
from ..spreadsheet import neutralise


def _cell_text(value):
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(neutralise(value))


def write_csv(header, rows, encoding=encodings.UTF8):
    """CSV with CRLF line ends: UTF-8 with a byte-order mark (so Excel reads it as UTF-8), or
    ``encoding="cp932"``, Shift_JIS as Japanese Excel reads it (``encodings.CsvEncodingError`` if a
    character has no Shift_JIS form)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell_text(v) for v in row])
    return encodings.encode(buffer.getvalue(), encoding)


def write_xlsx(tables):
    """An XLSX workbook from {sheet: (header, rows)}: real dates and numbers, neutralised text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for name, (header, rows) in tables.items():
        ws = wb.create_sheet(name)
        head = []
        for h in header:
            cell = WriteOnlyCell(ws, value=h)
            cell.font = bold
            head.append(cell)
        ws.append(head)
        for row in rows:
            out = []
            for v in row:
                if isinstance(v, date):
                    cell = WriteOnlyCell(ws, value=v)
                    cell.number_format = "yyyy-mm-dd"
                    out.append(cell)
                elif isinstance(v, str):
                    out.append(neutralise(v) if v else None)
                else:
                    out.append(v)
            ws.append(out)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def write_zip(files):
    """A ZIP archive of {file name: bytes}, in the given order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def write_statistical(fmt, frame, *, title, table_name, column_labels, value_labels=None):
    """One data frame as SAS transport (``xpt``: version 8; ``xpt5``: version 5, the one regulators
    and R's foreign::read.xport read, 8-character names), Stata 14+ (``dta``, release 118, which
    Stata 14+ and R's haven read) or SPSS (``sav``), with labels."""
    import pyreadstat

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out.bin")
        if fmt in ("xpt", "xpt5"):
            pyreadstat.write_xport(
                frame,
                path,
                file_label=title[:40],
                column_labels=column_labels,
                table_name=table_name,
                file_format_version=5 if fmt == "xpt5" else 8,
            )
        elif fmt == "dta":
            pyreadstat.write_dta(
                frame,
                path,
                file_label=title[:80],
                column_labels=column_labels,
                variable_value_labels=value_labels,
                version=14,  # release 118
            )
        else:
            pyreadstat.write_sav(
                frame, path, file_label=title, column_labels=column_labels, variable_value_labels=value_labels
            )
        with open(path, "rb") as f:
            return f.read()
