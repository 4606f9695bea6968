"""Putting the rows of an import on the stored courses of their patients, checked and written by the services.

One ``_Run`` does the work in three phases: ``parse`` (every cell, required columns, unknown
columns), ``resolve`` (centers, trials, study IDs, duplicates; no writes) and ``build`` (one
``services.CourseWrite`` per patient, on its stored course). :func:`check_and_write` then hands
the courses to ``services.check_courses`` (the dry run) or ``services.save_courses`` (the
commit) and locates each problem the services find at the row it came from.
"""

from dataclasses import dataclass
from pathlib import PurePath

from django.db import transaction
from django.utils.translation import gettext as _

from ... import access, chronology, services
from ...audit import audit_context
from ...models import Center, Patient, Trial
from ...queries.tasks import run_quality_checks
from .. import encodings
from ..data_dictionary import SHEETS, SHEETS_BY_NAME
from .cells import CellError, Problem, blank_value, parse_cell
from .readers import read_tables

MAX_PROBLEMS_KEPT = 2000
PROGRESS_EVERY = 500


@dataclass
class Row:
    sheet: str
    number: int
    values: dict
    ok: bool = True


class _Run:
    """One pass over the tables: parse, resolve references, then write through the services."""

    def __init__(self, *, user, file_name, tables, reason, progress, encoding=encodings.AUTO):
        self.user = user
        self.file_name = file_name
        self.tables = tables
        self.reason = (reason or "").strip()
        self.progress = progress
        self.encoding = encoding or encodings.AUTO
        self.problems = []
        self.problem_count = 0
        self.rows_with_problems = set()
        self.counts = {
            t.sheet: {"rows": len(t.rows), "create": 0, "update": 0, "unchanged": 0, "error": 0} for t in tables
        }
        self.done = 0
        self.total = sum(len(t.rows) for t in tables)

    def problem(self, sheet, row, column, message, kind, value=""):
        self.problem_count += 1
        # A sheet's "error" count is the number of its rows with a problem, whatever found it
        # (a cell, a reference, a course rule), so the counts always agree with the problem list.
        if row is not None and sheet in self.counts and (sheet, row) not in self.rows_with_problems:
            self.rows_with_problems.add((sheet, row))
            self.counts[sheet]["error"] += 1
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
                        _("Unknown column %(column)s; columns of %(sheet)s: %(columns)s.")
                        % {"column": repr(name), "sheet": table.sheet, "columns": ", ".join(sheet.column_names)},
                        "unknown_column",
                    )
                elif name in seen:
                    self.problem(table.sheet, 1, name, _("This column appears twice."), "duplicate_column")
                seen.add(name)
            missing = [c.name for c in sheet.columns if c.name not in seen and c.required]
            for name in missing:
                self.problem(
                    table.sheet,
                    1,
                    name,
                    _("Required column %(column)s is missing.") % {"column": repr(name)},
                    "missing_column",
                )
            index = {name: i for i, name in enumerate(table.header) if name in known}
            for number, cells in table.rows:
                row = Row(table.sheet, number, {})
                for column in sheet.columns:
                    if column.name not in index:
                        row.values[column.name] = blank_value(column)
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
                        self.problem(table.sheet, number, column.name, _("This column is required."), "required")
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

        # Where the import may create or change patients (None: every center, for the system).
        own = access.import_center_ids(self.user)
        own_codes = ", ".join(sorted(c.code for c in centers.values() if own is not None and c.pk in own))

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
                            row.sheet,
                            row.number,
                            "center",
                            _("Unknown center code %(code)s.") % {"code": repr(code)},
                            "unknown_center",
                            code,
                        )
                        row.ok = False
                    elif own is not None and centers[code].pk not in own:
                        self.problem(
                            row.sheet,
                            row.number,
                            "center",
                            _("You may import patients of your own center (%(centers)s) only.")
                            % {"centers": own_codes},
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
                            row.sheet, row.number, "trial", _("This trial is not in the registry."), "unknown_code"
                        )
                        row.ok = False
                if sid in stored and sid not in visible:
                    self.problem(
                        row.sheet,
                        row.number,
                        "study_id",
                        _("A patient with this study ID is already registered."),
                        "duplicate",
                        sid,
                    )
                    row.ok = False
            key = (row.sheet, *[v.get(k) for k in sheet.key])
            if sid and all(v.get(k) is not None for k in sheet.key):
                if key in seen_keys:
                    what = ", ".join(sheet.key)
                    self.problem(
                        row.sheet,
                        row.number,
                        sheet.key[-1],
                        _("Duplicate row: same %(key)s as an earlier row of this sheet.") % {"key": what},
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
                        _("Unknown study ID: no such patient in the registry or in this import."),
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
                # Rows of a patient that cannot be checked are listed too (their own problems are already).
                if patient_row is not None:
                    message = _(
                        "Not checked: patient %(study_id)s has problems to fix first (patients sheet, row %(row)s)."
                    ) % {"study_id": sid, "row": patient_row.number}
                else:
                    message = _("Not checked: patient %(study_id)s has problems to fix first.") % {"study_id": sid}
                for row in group:
                    if row.ok and row.sheet != "patients":
                        self.problem(row.sheet, row.number, "", message, "patient_not_checked")
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
        if not new and fields.get("regimen_code") == "" and fields.get("regimen") == getattr(record, "regimen", None):
            fields["regimen_code"] = record.regimen_code  # no code given, same text: the stored code stays
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
        for problem in problems:
            row = self.row_of[id(problem.record)]
            columns = set(SHEETS_BY_NAME[row.sheet].column_names)
            column = {"patient": "study_id", "__all__": ""}.get(problem.field, problem.field)
            text = problem.message
            if problem.field == "reason":
                column = ""
                text = _("This row changes a stored record; give a reason for change for the import. (%(why)s)") % {
                    "why": text
                }
            value = row.values.get(column) if column in columns else ""
            if hasattr(value, "code"):
                value = value.code
            self.problem(row.sheet, row.number, column if column in columns else "", text, problem.kind, value)

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
    return stored == value


SHEET_OF_MODEL = {sheet.model: sheet for sheet in SHEETS}


def check_and_write(
    *, user, file_name, content, entity="", reason="", commit=False, progress=None, encoding=encodings.AUTO
):
    """Check a file and, with ``commit=True`` and no problem at all, write it in one transaction.

    Returns the report: ``{"committed", "problems": [...], "problem_count", "sheets": {name:
    {"rows", "create", "update", "unchanged", "error"}}, "encoding", "encodings"}``: the CSV
    encoding asked for (``auto``, ``utf-8``, ``cp932``) and the one each CSV sheet was read in.
    ``user=None`` imports as the system (benchmarks and scripts); otherwise only a study
    coordinator may import, and only their center's patients.
    """
    tables, file_problems = read_tables(file_name, content, entity, encoding)
    run = _Run(
        user=user,
        file_name=PurePath(file_name).name,
        tables=tables,
        reason=reason,
        progress=progress,
        encoding=encoding,
    )
    for p in file_problems:
        run.problem(p.sheet, p.row, p.column, p.message, p.kind, p.value)
    if user is not None and not access.can_import(user):
        run.problem("", None, "", str(access.IMPORT_REFUSED), "permission")
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
                    # The data-quality rules run on what was committed (registry.queries).
                    transaction.on_commit(run_quality_checks.delay)
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
        "encoding": run.encoding,
        "encodings": {t.sheet: t.encoding for t in run.tables if t.encoding},
    }
