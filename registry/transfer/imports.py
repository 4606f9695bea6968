"""Bulk import of CSV, XLSX and ZIP (of CSV) files laid out as in ``registry.transfer.data_dictionary``.

An import is checked first (a dry run) and committed second, and both do the same work: parse
every cell (types, codes, dates, required columns, duplicates, study IDs), put the rows on the
stored courses of their patients (loaded in a few queries per 5,000 patients), and hand the
courses to ``registry.services``: ``check_courses`` for the dry run, ``save_courses`` for the
commit. Those apply the rules of the pages (field validators, each record's own rules, every
chronology rule on the whole course, permissions, reason for change) in memory, and the commit
writes with audited bulk inserts and updates in one transaction with the patients' rows locked,
so an import is written all or nothing. Each problem is located by sheet, spreadsheet row (the
header is row 1) and column.

Rows are matched to stored records by their natural key (study ID, plus the event date for
repeating events): identical records are left alone, so re-importing a file changes nothing;
differing ones are updated with the import's reason for change.

The pages and the API call :func:`create_job` and :func:`start`; a large file runs as a Celery
task (``registry.tasks.run_import_job``) that reports progress on the job row.
"""

import csv
import functools
import hashlib
import io
import re
import zipfile
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import PurePath

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from .. import access, chronology, services
from ..audit import audit_context
from ..models import Center, ImportJob, Patient, Trial
from .data_dictionary import (
    BOOLEAN,
    CODE,
    DATE,
    DECIMAL,
    IGNORED_SHEETS,
    INTEGER,
    SHEETS,
    SHEETS_BY_NAME,
    allowed_codes,
)

MAX_BYTES = getattr(settings, "IMPORT_MAX_BYTES", 20 * 1024 * 1024)
MAX_ROWS = getattr(settings, "IMPORT_MAX_ROWS", 2_000_000)
MAX_UNZIPPED_BYTES = getattr(settings, "IMPORT_MAX_UNZIPPED_BYTES", 10 * MAX_BYTES)
# Files larger than this are checked and committed by a Celery task with a progress bar.
ASYNC_BYTES = getattr(settings, "IMPORT_ASYNC_BYTES", 256 * 1024)
MAX_PROBLEMS_KEPT = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PROGRESS_EVERY = 500


class ImportRejected(Exception):
    """The file cannot be read at all (too large, wrong type, not UTF-8, corrupt)."""

    def __init__(self, message, *, status=400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Problem:
    sheet: str
    row: int | None
    column: str
    message: str
    kind: str
    value: str = ""

    def as_dict(self):
        return asdict(self)


# --- Reading files --------------------------------------------------------------------------


@dataclass
class Table:
    sheet: str
    header: list  # normalised column names, in file order
    rows: list  # (row number, [cell values]) with blank rows left out


def file_kind(file_name):
    suffix = PurePath(file_name or "").suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".zip":
        return "zip"
    raise ImportRejected(
        f"Unsupported file type {suffix or '(none)'!r}: upload a .csv, .xlsx or .zip (of CSV files) file.", status=415
    )


def read_tables(file_name, content, entity=""):
    """Split ``content`` into tables, one per sheet (or the one CSV), and report file-level problems."""
    if len(content) > MAX_BYTES:
        raise ImportRejected(f"The file is {len(content):,} bytes; the limit is {MAX_BYTES:,}.", status=413)
    if not content:
        raise ImportRejected("The file is empty.")
    kind = file_kind(file_name)
    if kind == "csv":
        return _read_csv(file_name, content, entity)
    if kind == "zip":
        return _read_zip(content)
    return _read_xlsx(content)


def _read_zip(content):
    """A ZIP archive of CSV files, one per entity and named after it (as the identified export)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ImportRejected(f"The file is not a readable ZIP archive ({type(error).__name__}).") from None
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNZIPPED_BYTES:
        raise ImportRejected(
            f"The archive unpacks to {unpacked:,} bytes; the limit is {MAX_UNZIPPED_BYTES:,}.", status=413
        )
    tables, problems = [], []
    for member in members:
        name = PurePath(member.filename).name
        stem = _normalise(PurePath(name).stem)
        if PurePath(name).suffix.lower() != ".csv" or stem not in SHEETS_BY_NAME:
            if stem not in IGNORED_SHEETS:
                problems.append(
                    Problem(
                        name,
                        None,
                        "",
                        f"Unexpected file {name!r} in the archive; it holds one CSV file per entity, named "
                        f"{', '.join(s + '.csv' for s in SHEETS_BY_NAME)}.",
                        "unknown_sheet",
                    )
                )
            continue
        try:
            data = archive.read(member)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as error:
            raise ImportRejected(f"{name!r} cannot be unpacked ({type(error).__name__}).") from None
        try:
            found, found_problems = _read_csv(name, data, stem)
        except ImportRejected as error:
            raise ImportRejected(f"{name}: {error.message}", status=error.status) from None
        tables += found
        problems += found_problems
    if not tables and not problems:
        problems.append(Problem("", None, "", "The archive holds no CSV file named after an entity.", "unknown_sheet"))
    return tables, problems


def _read_csv(file_name, content, entity):
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportRejected(
            f"The file is not UTF-8 text (byte {error.start + 1} cannot be read). "
            "Save it as 'CSV UTF-8' and upload it again."
        ) from None
    if "\x00" in text:
        raise ImportRejected("The file holds NUL bytes: it is not a CSV text file.")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        raw = list(reader)
    except csv.Error as error:
        raise ImportRejected(f"The CSV file cannot be read: {error}.") from None
    if not raw:
        raise ImportRejected("The file is empty.")
    header = [_normalise(h) for h in raw[0]]
    rows = [(i, r) for i, r in enumerate(raw[1:], start=2) if any(cell.strip() for cell in r)]
    if len(rows) > MAX_ROWS:
        raise ImportRejected(f"More than {MAX_ROWS:,} rows in {PurePath(file_name).name!r}.", status=413)
    problems = []
    sheet = _csv_sheet(file_name, header, entity)
    if sheet is None:
        names = ", ".join(s.name for s in SHEETS)
        problems.append(
            Problem(
                PurePath(file_name).stem,
                1,
                "",
                f"Cannot tell which entity this CSV file holds from its columns; name the file after it "
                f"(e.g. relapses.csv) or choose the entity. Entities: {names}.",
                "unknown_sheet",
            )
        )
        return [], problems
    return [Table(sheet, header, rows)], problems


def _csv_sheet(file_name, header, entity):
    if entity:
        if entity not in SHEETS_BY_NAME:
            raise ImportRejected(f"Unknown entity {entity!r}; choose one of {', '.join(SHEETS_BY_NAME)}.")
        return entity
    stem = _normalise(PurePath(file_name).stem)
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
        raise ImportRejected(f"The file is not a readable XLSX workbook ({type(error).__name__}).") from None
    tables, problems = [], []
    try:
        for ws in workbook.worksheets:
            name = _normalise(ws.title)
            if name in IGNORED_SHEETS:
                continue
            if name not in SHEETS_BY_NAME:
                problems.append(
                    Problem(
                        ws.title,
                        None,
                        "",
                        f"Unknown sheet {ws.title!r}; sheets are named {', '.join(SHEETS_BY_NAME)} "
                        "(README and codes are ignored).",
                        "unknown_sheet",
                    )
                )
                continue
            header, rows = None, []
            for number, cells in enumerate(ws.iter_rows(), start=1):
                values = []
                for cell in cells:
                    value = getattr(cell, "value", None)
                    if getattr(cell, "data_type", None) == "f":
                        problems.append(
                            Problem(
                                ws.title,
                                number,
                                "",
                                "Formulas are not accepted; paste the values.",
                                "formula",
                                str(value)[:80],
                            )
                        )
                        value = None
                    values.append(value)
                if header is None:
                    header = [_normalise(v) for v in values]
                    while header and not header[-1]:
                        header.pop()
                    continue
                if any(v not in (None, "") for v in values):
                    rows.append((number, values))
                    if len(rows) > MAX_ROWS:
                        raise ImportRejected(f"More than {MAX_ROWS:,} rows in sheet {ws.title!r}.", status=413)
            tables.append(Table(name, header or [], rows))
    finally:
        workbook.close()
    if not tables and not problems:
        problems.append(Problem("", None, "", "The workbook holds no sheet named after an entity.", "unknown_sheet"))
    return tables, problems


def _normalise(name):
    return re.sub(r"[\s\-]+", "_", str(name or "").strip().lower())


# --- Parsing cells --------------------------------------------------------------------------

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


class CellError(Exception):
    def __init__(self, message, kind):
        super().__init__(message)
        self.message = message
        self.kind = kind


def _text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    # Undo the apostrophe our own exports put before formula-looking text.
    if text.startswith("'") and text[1:2] in FORMULA_PREFIXES and text[1:2]:
        text = text[1:]
    return text


@functools.cache
def _codes_by_upper(column):
    return {code.upper(): code for code in allowed_codes(column)}


def parse_cell(column, value):
    """The Python value of one cell for ``column`` (None or "" when blank); raises CellError."""
    if column.kind == DATE:
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            if value.time() != datetime.min.time():
                raise CellError("A date without a time of day is expected.", "type")
            return value.date()
        if isinstance(value, date):
            return value
        text = _text(value)
        match = _ISO_DATE.match(text)
        if not match:
            raise CellError("Not a date: write it as YYYY-MM-DD.", "type")
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            raise CellError(f"Impossible date {text} (no such day).", "impossible_date") from None
    if column.kind == DECIMAL:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            raise CellError("A number is expected.", "type")
        try:
            number = Decimal(repr(value) if isinstance(value, float) else _text(value).replace(" ", ""))
        except InvalidOperation:
            raise CellError("Not a number (use a point for decimals, e.g. 312.5).", "type") from None
        if not number.is_finite():
            raise CellError("Not a number.", "type")
        return number
    if column.kind == INTEGER:
        text = _text(value)
        if not text:
            return None
        if not re.fullmatch(r"-?\d+", text):
            raise CellError("A whole number is expected.", "type")
        return int(text)
    if column.kind == BOOLEAN:
        if isinstance(value, bool):
            return value
        text = _text(value).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise CellError("Write 1 or 0 (or TRUE / FALSE).", "type")
    if column.kind == CODE:
        text = _text(value)
        if not text:
            return ""
        by_upper = _codes_by_upper(column)
        if text.upper() not in by_upper:
            raise CellError(f"Unknown code {text!r}; allowed: {', '.join(allowed_codes(column))}.", "unknown_code")
        return by_upper[text.upper()]
    return _text(value)


# --- Checking and writing -------------------------------------------------------------------


@dataclass
class Row:
    sheet: str
    number: int
    values: dict
    ok: bool = True


class _Run:
    """One pass over the tables: parse, resolve references, then write through the services."""

    def __init__(self, *, user, file_name, tables, reason, progress):
        self.user = user
        self.file_name = file_name
        self.tables = tables
        self.reason = (reason or "").strip()
        self.progress = progress
        self.problems = []
        self.problem_count = 0
        self.counts = {
            t.sheet: {"rows": len(t.rows), "create": 0, "update": 0, "unchanged": 0, "error": 0} for t in tables
        }
        self.done = 0
        self.total = sum(len(t.rows) for t in tables)

    def problem(self, sheet, row, column, message, kind, value=""):
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(Problem(sheet, row, column, message, kind, "" if value is None else str(value)[:80]))

    # Phase 1: cells and references, no database writes.
    def parse(self):
        rows = []
        for table in self.tables:
            sheet = SHEETS_BY_NAME[table.sheet]
            known = set(sheet.column_names)
            seen = set()
            for name in table.header:
                if not name:
                    continue
                if name not in known:
                    self.problem(
                        table.sheet,
                        1,
                        name,
                        f"Unknown column {name!r}; columns of {table.sheet}: {', '.join(sheet.column_names)}.",
                        "unknown_column",
                    )
                elif name in seen:
                    self.problem(table.sheet, 1, name, "This column appears twice.", "duplicate_column")
                seen.add(name)
            missing = [c.name for c in sheet.columns if c.name not in seen and c.required]
            for name in missing:
                self.problem(table.sheet, 1, name, f"Required column {name!r} is missing.", "missing_column")
            index = {name: i for i, name in enumerate(table.header) if name in known}
            for number, cells in table.rows:
                row = Row(table.sheet, number, {})
                for column in sheet.columns:
                    if column.name not in index:
                        row.values[column.name] = (
                            None
                            if column.kind in (DATE, DECIMAL, INTEGER)
                            else (False if column.kind == BOOLEAN else "")
                        )
                        continue
                    i = index[column.name]
                    raw = cells[i] if i < len(cells) else None
                    try:
                        value = parse_cell(column, raw)
                    except CellError as error:
                        self.problem(table.sheet, number, column.name, error.message, error.kind, raw)
                        row.ok = False
                        continue
                    if column.required and value in (None, "") and column.name in index:
                        self.problem(table.sheet, number, column.name, "This column is required.", "required")
                        row.ok = False
                    row.values[column.name] = value
                rows.append(row)
        return rows

    def resolve(self, rows):
        """Centers, trials, study IDs and natural-key duplicates; returns rows grouped by patient."""
        centers = {c.code.upper(): c for c in Center.objects.all()}
        trials = {t.code: t for t in Trial.objects.all()}
        study_ids = {r.values.get("study_id") for r in rows if r.values.get("study_id")}
        stored = {}
        ids = sorted(study_ids)
        for begin in range(0, len(ids), 5000):
            for p in Patient.objects.filter(study_id__in=ids[begin : begin + 5000]).select_related("center", "trial"):
                stored[p.study_id] = p
        scope = access.center_scope(self.user) if self.user is not None else None
        visible = {sid: p for sid, p in stored.items() if scope is None or p.center_id in scope}

        own_center = None
        if self.user is not None and access.role_of(self.user) == "COORDINATOR":
            own_center = self.user.membership.center

        patient_rows, seen_keys, by_patient = {}, set(), {}
        for row in rows:
            sheet = SHEETS_BY_NAME[row.sheet]
            v = row.values
            sid = v.get("study_id") or ""
            if row.sheet == "patients":
                code = (v.get("center") or "").upper()
                if code:
                    if code not in centers:
                        self.problem(
                            row.sheet, row.number, "center", f"Unknown center code {code!r}.", "unknown_center", code
                        )
                        row.ok = False
                    elif own_center is not None and centers[code].pk != own_center.pk:
                        self.problem(
                            row.sheet,
                            row.number,
                            "center",
                            f"You may import patients of your own center ({own_center.code}) only.",
                            "permission",
                            code,
                        )
                        row.ok = False
                    else:
                        v["center"] = centers[code]
                if v.get("trial"):
                    v["trial"] = trials.get(v["trial"])
                    if v["trial"] is None:
                        self.problem(
                            row.sheet, row.number, "trial", "This trial is not in the registry.", "unknown_code"
                        )
                        row.ok = False
                if sid in stored and sid not in visible:
                    self.problem(
                        row.sheet,
                        row.number,
                        "study_id",
                        "A patient with this study ID is already registered.",
                        "duplicate",
                        sid,
                    )
                    row.ok = False
            key = (row.sheet, *[v.get(k) for k in sheet.key])
            if sid and all(v.get(k) is not None for k in sheet.key):
                if key in seen_keys:
                    what = " and ".join(sheet.key)
                    self.problem(
                        row.sheet,
                        row.number,
                        sheet.key[-1],
                        f"Duplicate row: same {what} as an earlier row of this sheet.",
                        "duplicate",
                        v.get(sheet.key[-1]),
                    )
                    row.ok = False
                seen_keys.add(key)
            if row.sheet == "patients" and sid:
                patient_rows.setdefault(sid, row)
            by_patient.setdefault(sid, []).append(row)
        for sid, group in by_patient.items():
            if not sid:
                continue
            for row in group:
                if row.sheet != "patients" and sid not in visible and sid not in patient_rows:
                    self.problem(
                        row.sheet,
                        row.number,
                        "study_id",
                        "Unknown study ID: no such patient in the registry or in this import.",
                        "unknown_study_id",
                        sid,
                    )
                    row.ok = False
        self.visible = visible
        return by_patient

    # Phase 2: the courses as the file would leave them, checked (and written) by the services.
    def build(self, by_patient, *, lock):
        """One ``services.CourseWrite`` per patient of the file, on its stored course."""
        courses = services.load_courses(
            [p.pk for sid, p in self.visible.items() if sid in by_patient and p.pk is not None], lock=lock
        )
        self.row_of = {}
        writes = []
        for sid, group in by_patient.items():
            self._tick(len(group))
            if not sid:
                continue
            patient_row = next((r for r in group if r.sheet == "patients"), None)
            stored = self.visible.get(sid)
            course = courses.get(stored.pk) if stored is not None else None
            if patient_row is not None and not patient_row.ok:
                course = None  # its problems are reported; the course cannot be checked until fixed
            elif patient_row is not None:
                if course is None:
                    course = chronology.Course(patient=Patient())
                changed = self._apply(patient_row, course.patient, new=stored is None)
            if course is None:
                for row in group:
                    if row.sheet != "patients" or row.ok:
                        self.counts[row.sheet]["error"] += 1
                continue
            write = services.CourseWrite(course=course)
            if patient_row is not None and changed:
                write.changed.append(course.patient)
            records = {}
            for record in course.events():
                sheet = SHEET_OF_MODEL[type(record)]
                records[(sheet.name, *(getattr(record, k) for k in sheet.key[1:]))] = record
            added = []
            for row in group:
                if row.sheet == "patients":
                    continue
                if not row.ok:
                    self.counts[row.sheet]["error"] += 1
                    continue
                sheet = SHEETS_BY_NAME[row.sheet]
                record = records.get((row.sheet, *(row.values[k] for k in sheet.key[1:])))
                new = record is None
                if new:
                    record = sheet.model(patient=course.patient)
                    added.append(record)
                if self._apply(row, record, new=new):
                    write.changed.append(record)
            if added:
                course = chronology.course_of(course.patient, course.events() + added)
                write.course = course
            writes.append(write)
        return writes

    def _apply(self, row, record, *, new):
        """Put the row's values on ``record``; whether that changes it (a new record always does)."""
        sheet = SHEETS_BY_NAME[row.sheet]
        fields = {c.name: row.values[c.name] for c in sheet.columns if c.name != "study_id" or row.sheet == "patients"}
        self.row_of[id(record)] = row
        if not new and all(_same(getattr(record, name), value) for name, value in fields.items()):
            self.counts[row.sheet]["unchanged"] += 1
            return False
        for name, value in fields.items():
            setattr(record, name, value)
        self.counts[row.sheet]["create" if new else "update"] += 1
        return True

    def report_problems(self, problems):
        """Locate each ``services.Problem`` at the row it came from."""
        failed = set()
        for problem in problems:
            row = self.row_of[id(problem.record)]
            columns = set(SHEETS_BY_NAME[row.sheet].column_names)
            column = {"patient": "study_id", "__all__": ""}.get(problem.field, problem.field)
            text = problem.message
            if problem.field == "reason":
                column = ""
                text = f"This row changes a stored record; give a reason for change for the import. ({text})"
            value = row.values.get(column) if column in columns else ""
            if hasattr(value, "code"):
                value = value.code
            self.problem(row.sheet, row.number, column if column in columns else "", text, problem.kind, value)
            if id(row) not in failed:
                failed.add(id(row))
                self.counts[row.sheet]["error"] += 1

    def _tick(self, rows):
        before, self.done = self.done, self.done + rows
        if self.progress and (before // PROGRESS_EVERY != self.done // PROGRESS_EVERY or self.done == self.total):
            self.progress(self.done, self.total)

    @property
    def source(self):
        return f"import:{self.file_name}"[:120]


def _same(stored, value):
    if hasattr(stored, "pk") and hasattr(value, "pk"):
        return stored.pk == value.pk
    if stored is None or value is None:
        return stored == value
    return stored == value


SHEET_OF_MODEL = {sheet.model: sheet for sheet in SHEETS}


def check_and_write(*, user, file_name, content, entity="", reason="", commit=False, progress=None):
    """Check a file and, with ``commit=True`` and no problem at all, write it in one transaction.

    Returns the report: ``{"committed", "problems": [...], "problem_count", "sheets": {name:
    {"rows", "create", "update", "unchanged", "error"}}}``. ``user=None`` imports as the system
    (benchmarks and scripts); otherwise only a study coordinator may import, and only their
    center's patients.
    """
    tables, file_problems = read_tables(file_name, content, entity)
    run = _Run(user=user, file_name=PurePath(file_name).name, tables=tables, reason=reason, progress=progress)
    for p in file_problems:
        run.problem(p.sheet, p.row, p.column, p.message, p.kind, p.value)
    if user is not None and not access.can_enter_data(user):
        run.problem("", None, "", "Only a study coordinator may import data (for their own center).", "permission")
        return _report(run, committed=False)
    rows = run.parse()
    by_patient = run.resolve(rows)
    committed = False
    with transaction.atomic():
        writes = run.build(by_patient, lock=commit)
        with audit_context(user=user, reason=f"Imported from {run.file_name}", source=run.source):
            if commit and run.problem_count == 0:
                try:
                    services.save_courses(user=user, writes=writes, source=run.source, reason=run.reason)
                    committed = True
                except services.CoursesInvalid as invalid:
                    run.report_problems(invalid.problems)
            else:
                run.report_problems(services.check_courses(user=user, writes=writes, reason=run.reason))
    return _report(run, committed=committed)


def _report(run, *, committed):
    return {
        "file_name": run.file_name,
        "committed": committed,
        "rows": run.total,
        "sheets": run.counts,
        "problem_count": run.problem_count,
        "problems": [p.as_dict() for p in run.problems],
        "problems_truncated": run.problem_count > len(run.problems),
    }


# --- Jobs: the file between its dry run and its commit --------------------------------------


def create_job(*, user, file_name, content, entity="", reason=""):
    """Store an uploaded file for checking; refuses unreadable files at once (ImportRejected)."""
    name = PurePath(file_name or "upload").name[:200]
    file_kind(name)
    if len(content) > MAX_BYTES:
        raise ImportRejected(f"The file is {len(content):,} bytes; the limit is {MAX_BYTES:,}.", status=413)
    if entity and entity not in SHEETS_BY_NAME:
        raise ImportRejected(f"Unknown entity {entity!r}; choose one of {', '.join(SHEETS_BY_NAME)}.")
    read_tables(name, content, entity)  # an unreadable file is refused now, not in a report later
    return ImportJob.objects.create(
        user=user,
        file_name=name,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        entity=entity or "",
        reason=(reason or "").strip()[:255],
    )


def is_large(job):
    return len(job.content) > ASYNC_BYTES


def start(job, *, action):
    """Check (``action="check"``) or commit (``"commit"``) the job's file: in process for a small
    file, as a Celery task for a large one (the job then reports its progress)."""
    if action not in ("check", "commit"):
        raise ValueError(action)
    if action == "commit" and job.status != ImportJob.Status.CHECKED:
        raise ImportRejected(
            "Only a file whose dry run found no problems can be committed; check it again.", status=409
        )
    job.action = action
    job.status = ImportJob.Status.QUEUED
    job.rows_done = 0
    job.save(update_fields=["action", "status", "rows_done"])
    if is_large(job):
        from ..tasks import run_import_job

        transaction.on_commit(lambda: run_import_job.delay(job.pk))
        return job
    return run_job(job.pk)


def run_job(job_id):
    """Run a queued job (the Celery task's body): dry run or commit, then store the report."""
    job = ImportJob.objects.select_related("user").get(pk=job_id)
    if job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
        return job  # already finished (a redelivered task)
    job.status = ImportJob.Status.RUNNING
    job.save(update_fields=["status"])
    progress, close = _progress_writer(job)
    try:
        report = check_and_write(
            user=job.user,
            file_name=job.file_name,
            content=bytes(job.content),
            entity=job.entity,
            reason=job.reason,
            commit=job.action == "commit",
            progress=progress,
        )
    except ImportRejected as error:
        report = {
            "file_name": job.file_name,
            "committed": False,
            "rows": 0,
            "sheets": {},
            "problem_count": 1,
            "problems": [Problem("", None, "", error.message, "file").as_dict()],
            "problems_truncated": False,
        }
    finally:
        close()
    job.report = report
    job.rows_total = report["rows"]
    job.rows_done = report["rows"]
    job.finished_at = timezone.now()
    if report["committed"]:
        job.status, job.committed_at = ImportJob.Status.COMMITTED, job.finished_at
    elif report["problem_count"]:
        job.status = ImportJob.Status.REJECTED
    else:
        job.status = ImportJob.Status.CHECKED
    job.save(update_fields=["report", "rows_total", "rows_done", "finished_at", "status", "committed_at"])
    return job


def _progress_writer(job):
    """Progress written from outside the import's transaction (PostgreSQL), so others can see it."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None, lambda: None
    private = connections.create_connection("default")

    def write(done, total):
        with private.cursor() as cursor:
            cursor.execute(
                "UPDATE registry_importjob SET rows_done = %s, rows_total = %s WHERE id = %s", [done, total, job.pk]
            )

    return write, private.close


def jobs_for(user):
    """A user's own import jobs (nobody sees another user's uploads)."""
    return ImportJob.objects.filter(user=user).defer("content")
