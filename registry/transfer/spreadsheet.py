"""Spreadsheet safety, the one home: text a spreadsheet would run as a formula.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as
a formula by Excel, LibreOffice and Google Sheets (CSV injection). Every CSV or XLSX the
registry writes (exports, report downloads, the audit trail) passes text through
:func:`neutralise`, which prefixes such text with an apostrophe; imports flag formula-looking
cells with :func:`looks_like_formula` and read a neutralised cell back with :func:`restore`.
Pages that download a CSV list stream it with :func:`csv_response`.
"""

import csv

from django.http import StreamingHttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value):
    """True for text a spreadsheet would evaluate as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def neutralise(value):
    """Prefix formula-looking text with an apostrophe; anything else (numbers, dates, None) is returned as is."""
    return "'" + value if looks_like_formula(value) else value


def restore(value):
    """Undo :func:`neutralise`: an apostrophe before formula-looking text is dropped."""
    if isinstance(value, str) and value.startswith("'") and looks_like_formula(value[1:]):
        return value[1:]
    return value


def csv_cell(value):
    """A CSV cell of a downloaded list: text, empty for None, formulas neutralised."""
    return neutralise("" if value is None else str(value))


class _Echo:
    """A file-like object whose write returns the line: lets csv.writer feed a streamed response."""

    def write(self, value):
        return value


def csv_response(file_name, header, rows):
    """A streamed UTF-8 CSV download of ``header`` and ``rows`` (lists of cells, see :func:`csv_cell`)."""
    writer = csv.writer(_Echo())
    lines = (writer.writerow(row) for row in [header, *rows])
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response
