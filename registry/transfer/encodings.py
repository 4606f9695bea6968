"""The text encodings of CSV files, both directions: UTF-8 and Shift_JIS as Japanese Excel writes it.

Japanese Excel saves "CSV" in its code page, CP932 (Microsoft's Shift_JIS, which adds the NEC
and IBM characters such as ① and 髙 that plain Shift_JIS lacks), and "CSV UTF-8" with a byte-order
mark. An import reads either: chosen on the form or the API (``utf-8``, ``cp932``), or worked out
(``auto``): a byte-order mark means UTF-8; otherwise UTF-8 read strictly, else CP932 read strictly
(and giving no private-use character), else the file is refused. Japanese text in Shift_JIS is
almost never valid UTF-8, so the order decides nothing in practice; the import report says which
was used, so a file in a third encoding that happens to read as CP932 is seen in the dry run.

Exports write UTF-8 with a byte-order mark by default (Excel then reads it as UTF-8), or CP932
on request; a character CP932 cannot write refuses the download rather than being dropped.
"""

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .uploads import ImportRejected

AUTO = "auto"
UTF8 = "utf-8"
CP932 = "cp932"

LABELS = {UTF8: "UTF-8", CP932: "Shift_JIS (CP932)"}  # as the import report page names them
# The choices of the import form and API.
IMPORT_CHOICES = [
    (AUTO, gettext_lazy("Work it out (UTF-8, else Shift_JIS)")),
    (UTF8, gettext_lazy('UTF-8 (Excel\'s "CSV UTF-8")')),
    (CP932, gettext_lazy('Shift_JIS / CP932 (Japanese Excel\'s "CSV")')),
]
IMPORT_ENCODINGS = tuple(code for code, _label in IMPORT_CHOICES)
EXPORT_ENCODINGS = (UTF8, CP932)
CONTENT_TYPE_CHARSETS = {UTF8: "utf-8", CP932: "shift_jis"}

BOM = b"\xef\xbb\xbf"
# CP932 decodes the bytes Japanese Excel never writes (0x80, 0xA0, 0xFD-0xFF) and its user-defined
# area to private-use characters; Latin-1 or Windows-1252 text (accented letters) often lands there.
# Worked out, such a file is refused rather than imported garbled; chosen, it is read as asked.
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


class CsvEncodingError(ValueError):
    """A CSV export cannot be written in the encoding asked for: an unknown one, or a character it
    lacks (``message`` names the character and its row)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def check_import_encoding(encoding):
    """Refuse an encoding the import does not read (an API client's typo), before reading anything."""
    if (encoding or AUTO) not in IMPORT_ENCODINGS:
        raise ImportRejected(
            _("Unknown encoding %(encoding)r; choose one of %(choices)s.")
            % {"encoding": encoding, "choices": ", ".join(IMPORT_ENCODINGS)}
        )


def decode(content, encoding=AUTO):
    """(text, encoding used) of a CSV file's bytes; ``ImportRejected`` when they are not text in it."""
    encoding = encoding or AUTO
    check_import_encoding(encoding)
    if encoding == CP932:
        if content.startswith(BOM):
            raise ImportRejected(
                _("The file starts with a UTF-8 byte-order mark, so it is UTF-8, not Shift_JIS; choose UTF-8.")
            )
        return _strict(content, CP932), CP932
    if encoding == UTF8 or content.startswith(BOM):
        return _strict(content, UTF8), UTF8
    try:
        return content.decode("utf-8"), UTF8
    except UnicodeDecodeError as error:
        first_bad = error.start
    try:
        text = content.decode("cp932")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _PRIVATE_USE.search(text):
        return text, CP932
    raise ImportRejected(
        _(
            "The file is not UTF-8 or Shift_JIS (CP932) text (byte %(byte)s cannot be read). "
            "Save it as 'CSV UTF-8' (or as 'CSV' from Japanese Excel) and upload it again."
        )
        % {"byte": first_bad + 1}
    )


def _strict(content, encoding):
    try:
        return content.decode("utf-8-sig" if encoding == UTF8 else encoding)
    except UnicodeDecodeError as error:
        if encoding == UTF8:
            message = _(
                "The file is not UTF-8 text (byte %(byte)s cannot be read). If Japanese Excel saved it as "
                "'CSV', choose Shift_JIS (CP932); otherwise save it as 'CSV UTF-8' and upload it again."
            )
        else:
            message = _(
                "The file is not Shift_JIS (CP932) text (byte %(byte)s cannot be read). "
                "Choose UTF-8 or let the import work it out."
            )
        raise ImportRejected(message % {"byte": error.start + 1}) from None


def check_export_encoding(encoding):
    if encoding not in EXPORT_ENCODINGS:
        raise CsvEncodingError(
            _("Unknown encoding %(encoding)r; choose one of %(choices)s.")
            % {"encoding": encoding, "choices": ", ".join(EXPORT_ENCODINGS)}
        )


def encode(text, encoding=UTF8):
    """A CSV file's bytes: UTF-8 with a byte-order mark, or CP932 (``CsvEncodingError`` if it cannot)."""
    check_export_encoding(encoding)
    if encoding == UTF8:
        return BOM + text.encode("utf-8")
    try:
        return text.encode("cp932")
    except UnicodeEncodeError as error:
        row = text.count("\n", 0, error.start) + 1
        raise CsvEncodingError(
            _("Row %(row)s holds %(char)r, which Shift_JIS (CP932) cannot write; download the UTF-8 file instead.")
            % {"row": row, "char": text[error.start]}
        ) from None
