"""A data cut's copy of the registry rows, and the course tables rebuilt from it.

The copy holds exactly what ``registry.course.read_rows`` reads (every case-report field the
course facts derive from, no free text), serialised as canonical JSON (dates as ISO strings,
WBC as a number) and gzipped. Its SHA-256 over the JSON is the cut's fingerprint. Rebuilding
gives frames identical to the live ones at the moment of the cut, so a run at the cut has the
fingerprint a live run had then.
"""

import datetime
import decimal
import gzip
import hashlib
import json

from ..course import read_rows, tables_from_rows


def _plain(value):
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} cannot go into a data cut")


def take(patients):
    """(gzipped JSON of the rows of ``patients``, its SHA-256, number of patients)."""
    rows = read_rows(patients)
    text = json.dumps(
        {table: {"columns": list(columns), "rows": values} for table, (columns, values) in rows.items()},
        default=_plain,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return gzip.compress(text, mtime=0), hashlib.sha256(text).hexdigest(), len(rows["patients"][1])


def rows_of(snapshot):
    """The rows a snapshot holds, in ``read_rows``' shape."""
    data = json.loads(gzip.decompress(bytes(snapshot)))
    return {table: (tuple(part["columns"]), [tuple(row) for row in part["rows"]]) for table, part in data.items()}


def fingerprint_of(snapshot):
    return hashlib.sha256(gzip.decompress(bytes(snapshot))).hexdigest()


def tables(snapshot, parameters=None):
    """The course tables of the cut, limited to ``parameters`` (``trial`` and ``center`` codes)
    as ``analysis.runs.cohort`` limits the live patients."""
    rows = rows_of(snapshot)
    parameters = parameters or {}
    columns, patients = rows["patients"]
    trial_at, center_at = columns.index("trial__code"), columns.index("center__code")
    kept = [
        row
        for row in patients
        if (not parameters.get("trial") or row[trial_at] == parameters["trial"])
        and (not parameters.get("center") or row[center_at] == parameters["center"])
    ]
    if len(kept) != len(patients):
        ids = {row[columns.index("pk")] for row in kept}
        rows = {
            table: (cols, kept if table == "patients" else [r for r in values if r[0] in ids])
            for table, (cols, values) in rows.items()
        }
    return tables_from_rows(rows)
