"""Putting the rows of an import on the stored courses of their patients, checked and written by the services.

One ``_Run`` does the work in three phases: ``parse`` (every cell, required columns, unknown
columns), ``resolve`` (centers, trials, study IDs, duplicates; no writes) and ``build`` (one
``services.CourseWrite`` per patient, on its stored course). :func:`check_and_write` then hands
the courses to ``services.check_courses`` (the dry run) or ``services.save_courses`` (the
commit) and locates each problem the services find at the row it came from.
"""

import functools
import gc
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import zip_longest
from operator import itemgetter
from pathlib import PurePath

from django.db import router, transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils.translation import gettext as _

from ... import access, chronology, services
from ...audit import audit_context
from ...models import Center, Patient, Trial
from ...queries.tasks import run_quality_checks
from .. import encodings
from ..data_dictionary import SHEETS, SHEETS_BY_NAME
from .cells import Problem, blank_value, parse_column
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
            rows += self._parse_table(table, sheet, self._check_header(table, sheet))
        return rows

    def _check_header(self, table, sheet):
        """Unknown, repeated and missing columns; returns {column name: position in the file}."""
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
        return {name: i for i, name in enumerate(table.header) if name in known}

    def _parse_table(self, table, sheet, index):
        """The table's rows with their cells parsed, column by column (``cells.parse_column``: each
        distinct cell once); the problems are reported row by row, as a reader goes through the file."""
        count = len(table.rows)
        by_column = list(zip_longest(*(cells for _number, cells in table.rows)))  # None where a row is short
        columns, found = [], []
        for position, column in enumerate(sheet.columns):
            i = index.get(column.name)
            if i is None:
                columns.append([blank_value(column)] * count)
                continue
            cells = by_column[i] if i < len(by_column) else (None,) * count
            values, errors = parse_column(column, cells)
            for row, error in errors.items():
                found.append((row, position, column.name, error.message, error.kind, cells[row]))
            if column.required:
                found += [
                    (row, position, column.name, _("This column is required."), "required", "")
                    for row, value in enumerate(values)
                    if (value is None or value == "") and row not in errors
                ]
            columns.append(values)
        names = sheet.column_names
        rows = [
            Row(table.sheet, number, dict(zip(names, values, strict=True)))
            for (number, _cells), values in zip(table.rows, zip(*columns, strict=True), strict=True)
        ]
        for row, _position, name, message, kind, value in sorted(found, key=lambda problem: problem[:2]):
            self.problem(table.sheet, rows[row].number, name, message, kind, value)
            rows[row].ok = False
        return rows

    def resolve(self, rows):
        """Centers, trials, study IDs and natural-key duplicates; returns rows grouped by patient."""
        centers = {c.code.upper(): c for c in Center.objects.all()}
        trials = {t.code: t for t in Trial.objects.all()}
        study_ids = {r.values["study_id"] for r in rows} - {None, ""}
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
            sid = v["study_id"] or ""
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
                if row.ok and not (isinstance(v["center"], Center) and isinstance(v["trial"], Trial)):
                    row.ok = False  # its center or trial column is missing (reported at the header)
            key = (row.sheet, *map(v.get, sheet.key))
            if sid and None not in key:
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
            if not sid or sid in visible or sid in patient_rows:
                continue
            for row in group:
                if row.sheet != "patients":
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
            elif patient_row is not None and course is None:
                course = chronology.Course(patient=self._create(patient_row, Patient))
                changed = True
            elif patient_row is not None:
                changed = self._apply(patient_row, course.patient)
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
            stored_events = course.events()
            records = {}
            for record in stored_events:
                sheet = SHEET_OF_MODEL[type(record)]
                records[(sheet.name, *(getattr(record, k) for k in sheet.key[1:]))] = record
            added = []
            for row in group:
                if row.sheet == "patients" or not row.ok:
                    continue
                sheet = SHEETS_BY_NAME[row.sheet]
                record = records.get((row.sheet, *(row.values[k] for k in sheet.key[1:]))) if records else None
                if record is None:
                    record = self._create(row, sheet.model, patient=course.patient)
                    added.append(record)
                    write.changed.append(record)
                elif self._apply(row, record):
                    write.changed.append(record)
            if added:
                course = chronology.course_of(course.patient, stored_events + added)
                write.course = course
            writes.append(write)
        return writes

    def _create(self, row, model, **relations):
        """A new record holding the row's values (and ``relations``, e.g. its patient)."""
        names = _FIELDS[row.sheet]
        values = dict(zip(names, _VALUES_OF[row.sheet](row.values), strict=True))
        values.update(relations)
        record = _new_record(model, values)
        self.row_of[id(record)] = row
        self.counts[row.sheet]["create"] += 1
        return record

    def _apply(self, row, record):
        """Put the row's values on the stored ``record``; whether that changes it."""
        fields = {name: row.values[name] for name in _FIELDS[row.sheet]}
        if fields.get("regimen_code") == "" and fields.get("regimen") == getattr(record, "regimen", None):
            fields["regimen_code"] = record.regimen_code  # no code given, same text: the stored code stays
        self.row_of[id(record)] = row
        if all(_same(getattr(record, name), value) for name, value in fields.items()):
            self.counts[row.sheet]["unchanged"] += 1
            return False
        for name, value in fields.items():
            setattr(record, name, value)
        self.counts[row.sheet]["update"] += 1
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


# The fields a row of each sheet sets: its columns (the study ID names the patient of an event).
_FIELDS = {
    sheet.name: tuple(c.name for c in sheet.columns if c.name != "study_id" or sheet.name == "patients")
    for sheet in SHEETS
}
_VALUES_OF = {name: itemgetter(*fields) for name, fields in _FIELDS.items()}  # every sheet sets 2 or more


def _new_record(model, values):
    """``model(**values)``, at a fraction of the cost for the many records of an import.

    Django's constructor walks every field of the model and asks each for its default; here the
    defaults are taken once per model and the values left as the constructor leaves them: plain
    fields in the record's ``__dict__`` (their descriptors only read), each relation as its
    descriptor sets it (the database both are for, the key, the related object cached, and on a
    one-to-one the record cached on it) without the descriptor's per-call type check and
    relation veto: the import resolved the related objects itself, on the one database. A model
    with a callable default, or any receiver of the init signals, gets Django's constructor.
    ``tests/test_imports.py`` keeps the two equal.
    """
    defaults = _defaults(model)
    if defaults is None or pre_init.receivers or post_init.receivers:
        return model(**values)
    record = model.__new__(model)
    record._state = ModelState()
    state = record.__dict__
    state.update(defaults)
    state.update(values)
    for name, field in _relations(model).items():
        if name not in state:
            continue
        value = state.pop(name)
        if value is None:
            setattr(record, name, value)
        else:
            if record._state.db is None:
                record._state.db = router.db_for_write(model, instance=value)
            if value._state.db is None:
                value._state.db = router.db_for_write(type(value), instance=record)
            for local, remote in field.related_fields:
                state[local.attname] = getattr(value, remote.attname)
            field.set_cached_value(record, value)
            if not field.remote_field.multiple:
                field.remote_field.set_cached_value(value, record)
    return record


@functools.cache
def _relations(model):
    """{name: field} of the model's forward relations (the fields whose descriptor sets more than one value)."""
    return {f.name: f for f in model._meta.concrete_fields if f.is_relation}


@functools.cache
def _defaults(model):
    """{attname: default} of the model's stored fields, or None if a default is computed per record."""
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    if any(f.has_default() and callable(f.default) for f in fields):
        return None
    return {f.attname: f.get_default() for f in fields}


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
    with _collector_paused():
        return _check_and_write(user, file_name, content, entity, reason, commit, progress, encoding)


def _check_and_write(user, file_name, content, entity, reason, commit, progress, encoding):
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


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector paused for the run.

    An import holds millions of rows, cells and records at once, none in a reference cycle, and
    each collection walks all of them: at 100,000 patients the walks cost more time than the
    import's own work. Reference counting still frees everything as usual; the collector runs
    again after the import (it is switched back on only if it was on).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
