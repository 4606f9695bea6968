"""The outcome report as files: tables as CSV and XLSX, the whole report as PDF.

Rendering only: the tables and figures come from ``analysis.reports`` (built from stored
results), the figures are redrawn from the same results by ``analysis.figures``. Text a
spreadsheet would run as a formula is neutralised (``registry.transfer.spreadsheet``).

The PDF is written in the active language, its figures too (``analysis.figure_text``), with a
font that has the language's glyphs (Japanese: Noto Sans CJK JP, embedded); the view asks for it
in English when the server has no such font.
"""

import csv
import io
import textwrap
import unicodedata

from django.utils.translation import gettext as _

from registry.signatures.selectors import signatures_lines
from registry.transfer.spreadsheet import neutralise

from .figure_text import font_settings


def provenance_lines(provenances):
    lines = []
    for p in provenances:
        source = _(
            "Source: analysis run %(run)s (%(analysis)s), finished %(finished)s UTC; %(n)s patients (%(selection)s); "
            "data revision %(revision)s"
        ) % {
            "run": p.run_id,
            "analysis": p.analysis,
            "finished": f"{p.finished:%Y-%m-%d %H:%M}",
            "n": p.n_patients,
            "selection": p.selection,
            "revision": p.data_revision,
        }
        lines += [
            source + (" " + _("(the registry has changed since)") if p.stale else ""),
            _("Data fingerprint %(fingerprint)s; code version %(code)s")
            % {"fingerprint": p.fingerprint, "code": p.code_version},
        ]
    return lines


def table_csv(table):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([table.title])
    for row in table.matrix():
        writer.writerow([neutralise(c) for c in row])
    for note in table.notes:
        if note:
            writer.writerow([neutralise(note)])
    writer.writerow([])
    for line in provenance_lines(table.provenances):
        writer.writerow([neutralise(line)])
    return buffer.getvalue()


def table_xlsx(table):
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = table.name[:31]
    sheet.append([table.title])
    sheet["A1"].font = Font(bold=True)
    for i, row in enumerate(table.matrix()):
        sheet.append([neutralise(c) for c in row])
        if i == 0:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
    for note in [n for n in table.notes if n] + [""] + provenance_lines(table.provenances):
        sheet.append([neutralise(note)])
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever the text
    sheet.column_dimensions["A"].width = 48
    for letter in "BCDEFG":
        sheet.column_dimensions[letter].width = 22
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _wrap(text, width):
    """``text`` in lines of about ``width`` columns, a Japanese character (full width) counting two."""
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in text)
    if wide:
        width = max(20, width * len(text) // (len(text) + wide))
    return textwrap.wrap(text, width) or [""]


A4_PORTRAIT = (8.27, 11.69)  # inches: every page of the PDF
MARGIN = 0.7  # inches


def report_pdf(report, figure_specs, *, heading, provenance_text, cut=None):
    """The whole report as PDF, every page A4 portrait: a title page with provenance (and, for a
    report at the data cut ``cut``, its electronic signatures), each table, then each figure at
    its natural size with its caption under it.

    ``figure_specs``: figure name -> ``analysis.figures.FigureSpec`` drawn from the stored results.
    """
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with (
        matplotlib.rc_context(font_settings()),
        PdfPages(buffer, metadata={"Title": heading, "Creator": "MLL96/MLL98 registry"}) as pdf,
    ):
        page = plt.figure(figsize=A4_PORTRAIT)
        page.text(0.08, 0.93, heading, fontsize=15, weight="bold")
        y = 0.88
        for line in [*provenance_text, *(["", *signatures_lines("report", cut)] if cut is not None else [])]:
            for part in _wrap(line, 110):
                page.text(0.08, y, part, fontsize=8)
                y -= 0.02
        pdf.savefig(page)
        plt.close(page)
        for table in report.tables():
            _pdf_table(pdf, table, plt)
        for figure in report.figures():
            spec = figure_specs.get(figure.name)
            if spec is not None:
                _pdf_figure(pdf, figure, spec, plt)
    return buffer.getvalue()


def _pdf_figure(pdf, figure, spec, plt):
    """One figure on an A4 portrait page: drawn at 300 dpi at its natural size (shrunk only if
    wider than the text width), centred at the top, the numbered caption under it."""
    from PIL import Image

    from .figure_text import render

    image = Image.open(io.BytesIO(render(spec, "png", dpi=300)))
    width_in, height_in = image.width / 300, image.height / 300
    scale = min(1.0, (A4_PORTRAIT[0] - 2 * MARGIN) / width_in, (A4_PORTRAIT[1] * 0.7) / height_in)
    width_in, height_in = width_in * scale, height_in * scale
    page = plt.figure(figsize=A4_PORTRAIT)
    left = (A4_PORTRAIT[0] - width_in) / 2 / A4_PORTRAIT[0]
    top = 1 - MARGIN / A4_PORTRAIT[1]
    bottom = top - height_in / A4_PORTRAIT[1]
    ax = page.add_axes([left, bottom, width_in / A4_PORTRAIT[0], height_in / A4_PORTRAIT[1]])
    ax.imshow(image, interpolation="lanczos")
    ax.axis("off")
    caption = f"{figure.title}. {figure.description}"
    y = bottom - 0.03
    for line in _wrap(caption, 105):
        page.text(MARGIN / A4_PORTRAIT[0], y, line, fontsize=8.5)
        y -= 0.017
    for note in provenance_lines([figure.provenance] if figure.provenance else []):
        page.text(MARGIN / A4_PORTRAIT[0], y, note, fontsize=6.5, color="#555555")
        y -= 0.014
    pdf.savefig(page)
    plt.close(page)


def _pdf_table(pdf, table, plt, rows_per_page=45):
    matrix = table.matrix()
    header, body = matrix[0], matrix[1:]
    for start in range(0, max(1, len(body)), rows_per_page):
        chunk = body[start : start + rows_per_page]
        page = plt.figure(figsize=A4_PORTRAIT)
        page.text(0.06, 0.95, table.title + (" " + _("(continued)") if start else ""), fontsize=11, weight="bold")
        ax = page.add_axes([0.06, 0.14, 0.88, 0.79])
        ax.axis("off")
        if chunk:
            cells = ax.table(
                cellText=[[str(c) for c in row] for row in chunk],
                colLabels=header,
                loc="upper left",
                cellLoc="left",
                colLoc="left",
            )
            cells.auto_set_font_size(False)
            cells.set_fontsize(6.5)
            cells.auto_set_column_width(list(range(len(header))))
        notes = [n for n in table.notes if n] + provenance_lines(table.provenances)
        y = 0.11
        for note in notes:
            for line in _wrap(note, 140):
                page.text(0.06, y, line, fontsize=6.5)
                y -= 0.014
        pdf.savefig(page)
        plt.close(page)
