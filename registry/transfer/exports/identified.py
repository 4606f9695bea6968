"""The identified export (admins only) and the data dictionary downloads: the import layout.

``identified``: every record in the import layout (XLSX workbook, or a ZIP of one CSV per
sheet); importing it into an empty registry gives the same export back. ``dictionary``: the
data dictionary as Markdown or CSV, and the template workbook.
"""

from ..data_dictionary import ANALYSIS_TABLES, SHEETS, allowed_codes, markdown, template_workbook
from .writers import write_csv, write_xlsx, write_zip


def identified_tables(patients):
    """{sheet name: (header, rows)} in the import layout, Python values (dates, Decimals, 0/1)."""
    tables = {}
    patient_columns = SHEETS[0].column_names
    rows = []
    for p in patients.order_by("study_id").values(
        *[c if c not in ("center", "trial") else f"{c}__code" for c in patient_columns]
    ):
        rows.append([p.get(c, p.get(f"{c}__code")) for c in patient_columns])
    tables["patients"] = (patient_columns, rows)
    for sheet in SHEETS[1:]:
        fields = sheet.column_names[1:]
        order = ["patient__study_id", *[k for k in sheet.key[1:]]]
        rows = []
        for values in (
            sheet.model.objects.filter(patient__in=patients.values("pk"))
            .order_by(*order)
            .values_list("patient__study_id", *fields)
        ):
            rows.append([int(v) if isinstance(v, bool) else v for v in values])
        tables[sheet.name] = (sheet.column_names, rows)
    return tables


def identified_export(patients, fmt, encoding="utf-8"):
    """(bytes, number of patients): an XLSX workbook, or a ZIP of one CSV (in ``encoding``) per sheet."""
    tables = identified_tables(patients)
    n = len(tables["patients"][1])
    if fmt == "xlsx":
        return write_xlsx(tables), n
    files = {f"{name}.csv": write_csv(header, rows, encoding) for name, (header, rows) in tables.items()}
    return write_zip(files), n


def dictionary_export(fmt, encoding="utf-8"):
    """(bytes, None): the dictionary as Markdown, CSV (import sheets and analysis tables; in ``encoding``),
    or the template."""
    if fmt == "md":
        return markdown().encode("utf-8"), None
    if fmt == "xlsx":
        return template_workbook(), None
    rows = []
    for sheet in SHEETS:
        for c in sheet.columns:
            rows.append(
                [
                    "import",
                    sheet.name,
                    c.name,
                    c.label,
                    c.kind,
                    int(c.required),
                    c.code_list,
                    " ".join(allowed_codes(c)),
                    c.description,
                ]
            )
    for table, v in ((t, v) for t in ANALYSIS_TABLES for v in t.variables):
        codes = " ".join(code for code, _ in v.value_labels())
        rows.append(
            [
                "analysis",
                table.name,
                v.name,
                v.label,
                v.kind,
                0,
                v.codes.__name__ if v.codes else "",
                codes,
                v.description,
            ]
        )
    header = ["part", "sheet", "name", "label", "type", "required", "code_list", "codes", "description"]
    return write_csv(header, rows, encoding), None
