"""Bulk import of CSV, XLSX and ZIP (of CSV) files laid out as in ``registry.transfer.data_dictionary``.

An import is checked first (a dry run) and committed second, and both do the same work: parse
every cell (types, codes, dates, required columns, duplicates, study IDs), put the rows on the
stored courses of their patients (loaded in a few queries per 5,000 patients), and hand the
courses to ``registry.services``: ``check_courses`` for the dry run, ``save_courses`` for the
commit. Those apply the rules of the pages (field validators, each record's own rules, every
chronology rule on the whole course, permissions, reason for change) in memory, and the commit
writes with PostgreSQL ``COPY`` (``registry.bulk_copy``; the trail's triggers record every row) in
one transaction with the patients' rows locked, so an import is written all or nothing. Each
problem is located by sheet, spreadsheet row (the header is row 1) and column.

Rows are matched to stored records by their natural key (study ID, plus the event date for
repeating events): identical records are left alone, so re-importing a file changes nothing;
differing ones are updated with the import's reason for change.

The parts, in the order an import passes through them:

* ``readers``: the file into tables (CSV in UTF-8 or Shift_JIS, ``registry.transfer.encodings``;
  XLSX; ZIP of CSV); formulas refused;
* ``cells``: one cell into its Python value (``parse_cell``; a column once per distinct cell,
  ``parse_column``) and the located ``Problem``;
* ``courses``: rows onto the patients' courses, checked or written by the services
  (``check_and_write``);
* ``jobs``: the uploaded file between its dry run and its commit (``create_job``, ``start``,
  ``run_job``, ``jobs_for``), large files as a Celery task with progress.

Upload limits (size, unpacked size, rows) are ``registry.transfer.uploads``'.
"""

from ..uploads import ImportRejected
from .cells import CellError, Problem, parse_cell
from .courses import check_and_write
from .jobs import create_job, is_large, jobs_for, run_job, start
from .readers import Table, file_kind, read_tables

__all__ = [
    "CellError",
    "ImportRejected",
    "Problem",
    "Table",
    "check_and_write",
    "create_job",
    "file_kind",
    "is_large",
    "jobs_for",
    "parse_cell",
    "read_tables",
    "run_job",
    "start",
]
