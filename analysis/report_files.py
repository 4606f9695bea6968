"""The outcome report as files: tables as CSV and XLSX, the whole report as PDF.

Rendering only: the tables and figures come from ``analysis.reports`` (built from stored
results), the figures are redrawn from the same results by ``analysis.figures``. Text a
spreadsheet would run as a formula is neutralised (``registry.transfer.spreadsheet``).
"""

import csv
import io

from registry.transfer.spreadsheet import neutralise


def provenance_lines(provenances):
    lines = []
    for p in provenances:
        lines += [
            f"Source: analysis run {p.run_id} ({p.analysis}), finished {p.finished:%Y-%m-%d %H:%M} UTC; "
            f"{p.n_patients} patients ({p.selection}); data revision {p.data_revision}"
            + (" (the registry has changed since)" if p.stale else ""),
            f"Data fingerprint {p.fingerprint}; code version {p.code_version}",
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


def report_pdf(report, figure_specs, *, heading, provenance_text):
    """The whole report as PDF: a title page with provenance, each table, then each figure.

    ``figure_specs``: figure name -> ``analysis.figures.FigureSpec`` drawn from the stored results.
    """
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": heading, "Creator": "MLL96/MLL98 registry"}) as pdf:
        page = plt.figure(figsize=(8.27, 11.69))
        page.text(0.08, 0.93, heading, fontsize=15, weight="bold")
        y = 0.88
        for line in provenance_text:
            page.text(0.08, y, line, fontsize=8, wrap=True)
            y -= 0.025
        pdf.savefig(page)
        plt.close(page)
        for table in report.tables():
            _pdf_table(pdf, table, plt)
        for figure in report.figures():
            spec = figure_specs.get(figure.name)
            if spec is None:
                continue
            fig = spec.draw()
            fig.suptitle(figure.title, x=0.02, ha="left", fontsize=9)
            pdf.savefig(fig, bbox_inches="tight")
            plt.close(fig)
    return buffer.getvalue()


def _pdf_table(pdf, table, plt, rows_per_page=38):
    matrix = table.matrix()
    header, body = matrix[0], matrix[1:]
    for start in range(0, max(1, len(body)), rows_per_page):
        chunk = body[start : start + rows_per_page]
        page = plt.figure(figsize=(11.69, 8.27))
        page.text(0.04, 0.95, table.title + (" (continued)" if start else ""), fontsize=11, weight="bold")
        ax = page.add_axes([0.04, 0.12, 0.92, 0.8])
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
            cells.set_fontsize(7)
            cells.auto_set_column_width(list(range(len(header))))
        notes = [n for n in table.notes if n] + provenance_lines(table.provenances)
        for i, note in enumerate(notes):
            page.text(0.04, 0.08 - i * 0.018, note, fontsize=6.5)
        pdf.savefig(page)
        plt.close(page)
