"""Upload limits: how large an uploaded file, an unpacked archive, a sheet and a request body may be.

The one home of these limits and of the 413 that enforces them. The import page, the import
API, the import core (file readers and jobs) and the API's JSON parser all call the checks
below, so a limit is changed here and refused everywhere with the same message.
"""

from django.conf import settings
from django.utils.translation import gettext as _

TOO_LARGE = 413  # HTTP status of every refusal here

# One uploaded file (CSV, XLSX or ZIP), in bytes.
MAX_BYTES = getattr(settings, "IMPORT_MAX_BYTES", 20 * 1024 * 1024)
# The files of a ZIP archive together, once unpacked, in bytes (refuses zip bombs).
MAX_UNZIPPED_BYTES = getattr(settings, "IMPORT_MAX_UNZIPPED_BYTES", 10 * MAX_BYTES)
# Data rows of one sheet or CSV file.
MAX_ROWS = getattr(settings, "IMPORT_MAX_ROWS", 2_000_000)


class ImportRejected(Exception):
    """An uploaded file refused as a whole (too large, wrong type, not UTF-8, corrupt).

    ``status`` is the HTTP status the pages and the API answer with (413 for the limits here).
    """

    def __init__(self, message, *, status=400):
        super().__init__(message)
        self.message = message
        self.status = status


def check_file_size(size):
    """Refuse a file of ``size`` bytes over ``MAX_BYTES``; call it before reading the upload."""
    if size > MAX_BYTES:
        raise ImportRejected(
            _("The file is %(size)s bytes; the limit is %(limit)s.") % {"size": f"{size:,}", "limit": f"{MAX_BYTES:,}"},
            status=TOO_LARGE,
        )


def check_unzipped_size(size):
    """Refuse a ZIP archive whose files unpack to ``size`` bytes over ``MAX_UNZIPPED_BYTES``."""
    if size > MAX_UNZIPPED_BYTES:
        raise ImportRejected(
            _("The archive unpacks to %(size)s bytes; the limit is %(limit)s.")
            % {"size": f"{size:,}", "limit": f"{MAX_UNZIPPED_BYTES:,}"},
            status=TOO_LARGE,
        )


def check_row_count(count, where):
    """Refuse a sheet (``where`` names it for the message) of more than ``MAX_ROWS`` data rows."""
    if count > MAX_ROWS:
        raise ImportRejected(
            _("More than %(limit)s rows in %(where)s.") % {"limit": f"{MAX_ROWS:,}", "where": where},
            status=TOO_LARGE,
        )


def max_body_bytes():
    """The largest request body (JSON, form fields; not uploaded files) Django accepts, in bytes."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def body_too_large_message(size=None):
    """The 413 message for a request body of ``size`` bytes (unknown: ``None``) over the limit."""
    limit = f"{max_body_bytes():,}"
    if size is None:
        return _("The request body is larger than %(limit)s bytes.") % {"limit": limit}
    return _("The request body is %(size)s bytes; the limit is %(limit)s.") % {"size": f"{size:,}", "limit": limit}
