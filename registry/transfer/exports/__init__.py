"""Standard exports: the de-identified analysis data set, the identified export, CDISC ODM, the dictionary.

* ``analysis`` (investigators, data managers, admins; scoped by ``for_user``): the patient's
  whole course from ``registry.course``, as a ``patients`` table (one row per patient) and one
  table per event type, keyed by pseudonym, intervals in days from diagnosis, no dates and no
  study IDs (``analysis_set``). A ZIP of CSVs, an XLSX workbook, the patients table alone as
  CSV, and ZIPs of SAS transport (XPT v8), Stata (.dta) or SPSS (.sav) files with variable and
  value labels from ``registry.transfer.data_dictionary``.
* ``identified`` (admins only): every record in the import layout (``identified``).
* ``odm`` (admins only): CDISC ODM 1.3.2 XML, study metadata and clinical data (``odm``).
* ``dictionary`` (every registry role): the data dictionary as Markdown or CSV, and the
  template workbook.

CSV files (``CSV_FORMATS``: alone or in a ZIP) are UTF-8 with a byte-order mark, or with
``encoding="cp932"`` Shift_JIS as Japanese Excel reads it (``registry.transfer.encodings``).

Who may download what is ``registry.access.can_export``. Every download is written to
``ExportLog`` (who, when, which kind and format, how many patients, the SHA-256 of the bytes)
and as a security event.
Formula-looking text is neutralised in CSV and XLSX (``registry.transfer.spreadsheet``).
"""

import hashlib

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.translation import gettext as _

from ... import access
from ...models import ExportLog, Patient
from ...security import events as security_events
from .. import encodings
from .analysis_set import ZIPPED_FORMATS, analysis_export, analysis_tables, pseudonym
from .identified import dictionary_export, identified_export, identified_tables
from .odm import ODM_NS, ODM_XSD, odm_export, validate_odm

__all__ = [
    "CONTENT_TYPES",
    "CSV_FORMATS",
    "CsvEncodingError",
    "KINDS",
    "ODM_NS",
    "ODM_XSD",
    "PermissionDenied",
    "UnknownExport",
    "analysis_export",
    "analysis_tables",
    "available",
    "dictionary_export",
    "export",
    "identified_export",
    "identified_tables",
    "is_csv",
    "odm_export",
    "pseudonym",
    "validate_odm",
]

ANALYSIS_FORMATS = ("zip", "xlsx", "csv", "xpt", "xpt5", "dta", "sav")
KINDS = {
    "analysis": ANALYSIS_FORMATS,
    "identified": ("xlsx", "zip"),
    "odm": ("xml",),
    "dictionary": ("md", "csv", "xlsx"),
}
# The formats made of CSV files (one, or a ZIP of them): the ones an encoding applies to.
CSV_FORMATS = {"analysis": ("csv", "zip"), "identified": ("zip",), "dictionary": ("csv",)}
CsvEncodingError = encodings.CsvEncodingError
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xpt": "application/x-sas-xport",
    "dta": "application/x-stata-dta",
    "sav": "application/x-spss-sav",
    "zip": "application/zip",
    "xml": "application/xml",
    "md": "text/markdown; charset=utf-8",
}
FILE_NAMES = {
    "analysis": "mll_analysis",
    "identified": "mll_identified",
    "odm": "mll_odm",
    "dictionary": "mll_data_dictionary",
}


class UnknownExport(Exception):
    pass


def available(user):
    """[(kind, formats)] the user may download, for the pages and the API index."""
    return [(kind, formats) for kind, formats in KINDS.items() if access.can_export(user, kind)]


def is_csv(kind, fmt):
    """Whether the export ``kind`` in ``fmt`` is made of CSV files (so an encoding applies)."""
    return fmt in CSV_FORMATS.get(kind, ())


def _file_name(kind, fmt, encoding=encodings.UTF8):
    stamp = timezone.now().strftime("%Y%m%d")
    if kind == "dictionary" and fmt == "xlsx":
        return f"mll_import_template_{stamp}.xlsx"
    if kind == "analysis" and fmt in ZIPPED_FORMATS:  # one file per table
        return f"{FILE_NAMES[kind]}_{fmt}_{stamp}.zip"
    if encoding == encodings.CP932 and is_csv(kind, fmt):
        return f"{FILE_NAMES[kind]}_{stamp}_sjis.{fmt}"
    return f"{FILE_NAMES[kind]}_{stamp}.{fmt}"


def export(*, user, kind, fmt, source, encoding=encodings.UTF8):
    """(bytes, content type, file name) of one export, after checking the right and logging it.

    ``user``'s patients are ``Patient.objects.for_user(user)``: a center-scoped user exports
    their own centers only. ``encoding`` (``utf-8`` or ``cp932``) is that of CSV files; other
    formats ignore it. Raises ``UnknownExport`` for an unknown kind or format,
    ``PermissionDenied`` when the user may not download it, and ``CsvEncodingError`` for an
    unknown encoding or a character Shift_JIS cannot write (nothing is logged then).
    """
    if kind not in KINDS or fmt not in KINDS[kind]:
        raise UnknownExport(_("No export %(kind)r in format %(fmt)r.") % {"kind": kind, "fmt": fmt})
    if not access.can_export(user, kind):
        raise PermissionDenied(_("Your role may not download this export."))
    encoding = encoding or encodings.UTF8
    encodings.check_export_encoding(encoding)
    patients = Patient.objects.for_user(user)
    if kind == "analysis":
        content, n = analysis_export(patients, fmt, encoding)
    elif kind == "identified":
        content, n = identified_export(patients, fmt, encoding)
    elif kind == "odm":
        content, n = odm_export(patients)
    else:
        content, n = dictionary_export(fmt, encoding)
    file_name = _file_name(kind, fmt, encoding)
    ExportLog.objects.create(
        user=user,
        kind=kind,
        file_format=fmt,
        file_name=file_name,
        n_patients=n,
        sha256=hashlib.sha256(content).hexdigest(),
        source=source,
    )
    security_events.record(security_events.Kind.EXPORT, user=user, detail=f"{file_name}, {n} patients ({source})")
    content_type = CONTENT_TYPES["zip"] if file_name.endswith(".zip") else CONTENT_TYPES[fmt]
    if fmt == "csv":
        content_type = f"text/csv; charset={encodings.CONTENT_TYPE_CHARSETS[encoding]}"
    return content, content_type, file_name
