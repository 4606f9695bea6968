"""The course frame the analyses read, kept on disk and brought up to date from the log of changes.

Every run reads the same frame: one row per patient (``registry.course.course_frame``), with
fixed dtypes (:func:`conform`). Building it means reading every registry row; at a million
patients that costs more than the statistics. So on PostgreSQL the frame is kept in
``COURSE_TABLE_DIR`` (one file per table, shared by every worker process of the machine) with
the snapshot it was read at. The next run asks the change log (migration registry 0013: the
clinical tables' triggers record, per statement, the writing transaction and the patients it
touched) which patients changed in transactions that snapshot did not see, reads those patients
again and replaces their rows. Nothing changed: the stored table is read as it is.

An update writes only the changed patients' rows beside the table (``live-<code>.u0001.npz``, ...;
every ``COMPACT_AFTER`` updates the table is written whole again); a worker process keeps the table
in memory between runs and applies the updates other processes wrote. It keeps each analysis's frames
too (``analysis.runs``), and updates them with the table: only the changed patients' rows are derived
again (:func:`update_frames`).

The table is a cache, never the authority: a table updated from the log equals the frame built
from all rows, and so does its fingerprint (``tests/analysis/test_course_table.py`` checks both after
every kind of change). A run's fingerprint is that of the course frame it reads
(``analysis.datasets.fingerprint``): the process keeps each column's digest with the table and
hashes again only the columns an update changed (an update writes new arrays for those alone). It is rebuilt from
all rows when no table exists, when more than a tenth of the patients changed, after
``MAX_UPDATES`` updates, when a center's or trial's code changed, or when the trail
went backwards (a restore). A data cut's table is built once from the cut's rows.

On SQLite (the embedded demo), and inside an open transaction (whose writes may still roll
back), the frame is built in memory, with the same dtypes.
"""

import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection

from registry.course import course_frame, read_tables
from registry.cuts import snapshot
from registry.models import Patient

FORMAT = 1
# The course frame's text columns: object dtype, None where empty, whatever the rows hold
# (a frame of patients none of whom relapsed would otherwise get a float column of NaN).
TEXT_COLUMNS = (
    "center",
    "study_id",
    "trial",
    "sex",
    "cns_status",
    "immunophenotype",
    "prednisone_response",
    "mll_partner",
    "mll_detection_method",
    "outcome",
    "relapse1_site",
    "salvage_evaluable",
    "salvage_lines_coded",
    "hsct_status",
    "hsct_after_recurrence_status",
    "cause_of_death",
    "last_vital_status",
    "first_remission",
    "relapse_site",
)
# An update reads the changed patients again; beyond this share of the table, all rows are read.
UPDATE_SHARE = 0.1
# An update of at most this many patients reads their rows in one fetch per table, not streamed.
STREAM_ABOVE = 5_000
# Updates in a row before the table is built again from all rows.
MAX_UPDATES = 50
# Updates kept beside the table before it is written whole again (a new process applies them all).
COMPACT_AFTER = 10
_CODE_FILES = ("registry/course.py", "analysis/course_table.py")


def _code_version():
    digest = hashlib.sha256(f"format={FORMAT} pandas={pd.__version__} numpy={np.__version__}".encode())
    for name in _CODE_FILES:
        digest.update((Path(settings.BASE_DIR) / name).read_bytes())
    return digest.hexdigest()[:16]


CODE_VERSION = _code_version()


def conform(frame):
    """``frame`` (a course frame) with fixed dtypes: text columns object with None where empty,
    dates datetime64[ns]; the other columns as they are (ints, floats). Returns a new frame."""
    columns = {}
    for name, values in frame.items():
        if name in TEXT_COLUMNS:
            # Each distinct text once, shared by its rows (as a table read from disk holds them):
            # a column of a million separate string objects is slower to compare, group and hash.
            codes, distinct = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
            columns[name] = np.append(np.asarray(distinct, dtype=object), None)[codes]
        elif values.dtype.kind == "M":
            columns[name] = values.to_numpy(dtype="datetime64[ns]")
        else:
            columns[name] = values.to_numpy()
    return pd.DataFrame(columns)


def build(tables):
    """The conformed course frame of ``tables`` (``registry.course.read_tables``' frames)."""
    return conform(course_frame(tables=tables))


def select(course, parameters):
    """The rows of the patients ``parameters`` select (``analysis.runs.cohort``: by trial and center
    code), as a new frame. All patients: a new frame over the same columns (not copied; the
    analyses never write into the course frame, ``tests/analysis/test_course_table.py`` checks it)."""
    mask = np.ones(len(course), dtype=bool)
    for key, column in (("trial", "trial"), ("center", "center")):
        if parameters.get(key):
            mask &= course[column].to_numpy() == parameters[key]
    return course[mask].reset_index(drop=True) if not mask.all() else course.copy(deep=False)


# --- The table on disk ---------------------------------------------------------------------


def save(course, path, manifest):
    """Write ``course`` to ``path`` (``.npz``, no pickle): each column as its values, text columns
    as codes into their distinct values (kept in the manifest). Atomic: written aside, then renamed."""
    arrays, columns = {}, []
    for number, (name, values) in enumerate(course.items()):
        entry = {"name": name, "dtype": str(values.dtype)}
        if values.dtype == object:
            codes, uniques = pd.factorize(values.to_numpy(), use_na_sentinel=True)
            entry["values"] = [_plain(value) for value in uniques]
            arrays[f"c{number}"] = codes.astype(np.int32)
        elif values.dtype.kind == "M":
            arrays[f"c{number}"] = values.to_numpy().view("int64")
        else:
            arrays[f"c{number}"] = values.to_numpy()
        columns.append(entry)
    manifest = {**manifest, "format": FORMAT, "code": CODE_VERSION, "rows": len(course), "columns": columns}
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Clinical data: readable by the workers' own user only, like the database's files.
    with os.fdopen(os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        np.savez(out, **arrays)
    os.replace(aside, path)


def _plain(value):
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return value.item()
    raise TypeError(f"The course table keeps text, flags and numbers, not {type(value).__name__} ({value!r})")


def load(path):
    """(course frame, manifest) from a file :func:`save` wrote."""
    with np.load(path, allow_pickle=False) as stored:
        manifest = json.loads(stored["manifest"].tobytes())
        columns = {}
        for number, entry in enumerate(manifest["columns"]):
            values = stored[f"c{number}"]
            if entry["dtype"] == "object":
                columns[entry["name"]] = np.array([*entry["values"], None], dtype=object)[values]
            elif entry["dtype"].startswith("datetime64"):
                columns[entry["name"]] = values.view(entry["dtype"])
            else:
                columns[entry["name"]] = values
    return pd.DataFrame(columns), manifest


# --- Which table is current ----------------------------------------------------------------


IDENTITY = "SELECT oid, 'registry_patient'::regclass::oid FROM pg_database WHERE datname = current_database()"
# {a database's address: its identity as this process last read it}; every LOOK reads it again.
_identities = {}


def _address():
    db = connection.settings_dict
    return f"{db.get('HOST')}:{db.get('PORT')}/{db['NAME']}"


def _identity():
    """The database's identity: its oid and its patients table's (a database created again, or
    restored into, its tables created again, is another one)."""
    with connection.cursor() as cursor:
        cursor.execute(IDENTITY)
        return tuple(cursor.fetchone())


def _directory(identity):
    """The tables of the database of this ``identity`` at this address: COURSE_TABLE_DIR/<a hash of both>."""
    name = f"{_address()}#{identity[0]}/{identity[1]}"
    return Path(settings.COURSE_TABLE_DIR) / hashlib.sha256(name.encode()).hexdigest()[:16]


def persistent():
    """Whether the table is kept on disk: on PostgreSQL, outside an open transaction (whose writes
    could still roll back, and whose snapshot would see its own changes as old)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block and bool(settings.COURSE_TABLE_DIR)


@contextmanager
def _locked(directory):
    """One process of the machine builds or updates a table at a time; the others wait, then find it."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


LOOK = """
WITH unseen AS (
    SELECT patient_ids FROM registry_coursechange
    WHERE xid >= pg_snapshot_xmin(%(seen)s::pg_snapshot) AND NOT pg_visible_in_snapshot(xid, %(seen)s::pg_snapshot)
)
SELECT pg_current_snapshot()::text,
       ARRAY(SELECT table_name FROM registry_trailhead ORDER BY 1),
       ARRAY(SELECT seq FROM registry_trailhead ORDER BY table_name),
       EXISTS (SELECT FROM unseen WHERE patient_ids IS NULL),
       ARRAY(SELECT DISTINCT patient FROM unseen, unnest(patient_ids) patient ORDER BY 1 LIMIT %(limit)s),
       COALESCE((SELECT revision FROM registry_datarevision WHERE id = 1), 0),
       (SELECT oid FROM pg_database WHERE datname = current_database()),
       'registry_patient'::regclass::oid
"""


class _Look(NamedTuple):
    snapshot: str
    trail: dict
    changed: list | None
    revision: int
    identity: tuple


def _look(seen, limit):
    """In one statement (one snapshot): the snapshot now, the length of each history table's trail,
    the patients changed by transactions the snapshot ``seen`` did not see (at most ``limit`` of
    them; None if a change touched every patient; none if ``seen`` is None), the data revision
    (``registry.models.DataRevision``) and the database's identity (:func:`_identity`)."""
    with connection.cursor() as cursor:
        cursor.execute(LOOK, {"seen": seen, "limit": limit})
        now, tables, lengths, everyone, patients, revision, *identity = cursor.fetchone()
    trail = dict(zip(tables, lengths, strict=True))
    return _Look(now, trail, None if everyone else patients, revision, tuple(identity))


class Table:
    """A course frame and where it came from: ``key`` names its content (for the callers' caches),
    ``how`` is "stored" (read as it was), "updated" or "built"; ``since`` and ``patients``: the last
    update this process made or applied, the table that had the key ``since`` with the rows of
    ``patients`` (ids) read again (None: built, or read whole); ``digests``: its columns' digests
    known so far, for ``analysis.datasets.fingerprint`` to use and fill; ``revision``: the data
    revision of the live data it holds (None: a data cut's)."""

    def __init__(self, course, key, how, patients=(), digests=None, since=None, revision=None):
        self.course, self.key, self.how, self.patients, self.since = course, key, how, patients, since
        self.digests = {} if digests is None else digests
        self.revision = revision


class _State:
    """The live table as this process holds it: the stored table, with the updates it applied, and
    the digests of its columns computed so far."""

    def __init__(self, course, manifest, base_mtime):
        self.course, self.snapshot, self.trail = course, manifest["snapshot"], manifest["trail"]
        self.base_mtime, self.updates = base_mtime, []
        self.updated = manifest.get("updated", 0)  # updates since the table was built from all rows
        self.digests = {}
        self.since, self.patients = None, ()  # the last update applied (Table)

    @property
    def update_count(self):
        return self.updated + len(self.updates)

    def replace(self, patients, rows):
        """The table with the rows of ``patients`` replaced (:func:`_replace`); the digest of a column
        it left as it was (the same array) is kept."""
        before, self.course = self.course, _replace(self.course, patients, rows)
        self.digests = {
            name: digest
            for name, digest in self.digests.items()
            if name in self.course and _same_array(before[name].to_numpy(), self.course[name].to_numpy())
        }


def _same_array(a, b):
    """Whether ``a`` and ``b`` are the same values in the same memory (both alive: not reused)."""
    return a.dtype == b.dtype and a.__array_interface__ == b.__array_interface__


_memory = {}  # {directory: _State}: the live table, kept between runs by a long-lived worker
_loaded = {}  # the last data cut's table read in this process: {path: frame}


def _updates(directory):
    return sorted(directory.glob(f"live-{CODE_VERSION}.u*.npz"))


def _caught_up(directory, base):
    """This process's live table with every update on disk applied (another process may have
    written some), or None if there is no stored table."""
    if not base.exists():
        _memory.pop(directory, None)
        return None
    mtime = base.stat().st_mtime_ns
    state = _memory.get(directory)
    if state is None or state.base_mtime != mtime:
        _memory.clear()
        course, manifest = load(base)
        state = _memory[directory] = _State(course, manifest, mtime)
    since, patients = ("live", str(base), state.snapshot), set()
    for path in _updates(directory):
        if path.name not in state.updates:
            rows, manifest = load(path)
            state.replace(manifest["patients"], rows)
            state.snapshot, state.trail = manifest["snapshot"], manifest["trail"]
            state.updates.append(path.name)
            patients.update(manifest["patients"])
    if patients:  # other processes' updates: together, one update of this process's table
        state.since, state.patients = since, sorted(patients)
    return state


def current(stages, cut=None):
    """The course table of the live data (or of the data cut ``cut``), kept on disk when
    :func:`persistent`: as it was, updated from the change log, or built. ``stages`` records the
    seconds of "extraction" (asking the log, reading rows and stored tables) and "frames"."""
    if cut is not None:
        return _cut_table(_directory(_identity()), cut, stages)
    address = _address()
    while True:
        identity = _identities.get(address) or _identity()
        table = _live_table(_directory(identity), identity, stages)
        if table is not None:
            _identities[address] = identity
            return table
        # The database was created again, or restored into, since: its identity and tables are new.
        _identities.pop(address, None)


def _cut_table(directory, cut, stages):
    path = directory / f"cut-{cut.pk}-{CODE_VERSION}.npz"
    with _locked(directory):
        if not path.exists():
            with stages("extraction"):
                tables = snapshot.tables(cut.snapshot, {})
            with stages("frames"):
                save(build(tables), path, {"cut": cut.pk})
        with stages("extraction"):
            if path not in _loaded:
                _loaded.clear()
                _loaded[path] = Table(load(path)[0], ("cut", cut.pk, str(path)), "stored")
    return _loaded[path]


def _live_table(directory, identity, stages):
    """:func:`current`'s live table, kept in ``directory``, that of the database of ``identity``;
    None if the database's identity is no longer that."""
    base = directory / f"live-{CODE_VERSION}.npz"
    with _locked(directory):
        with stages("extraction"):
            state = _caught_up(directory, base)
            limit = max(1, int(len(state.course) * UPDATE_SHARE)) if state is not None else 0
            look = _look(state.snapshot if state is not None else None, limit + 1)
        if look.identity != identity:
            return None
        now, lengths, changed, revision = look.snapshot, look.trail, look.changed, look.revision
        if state is not None:
            if any(lengths.get(table, 0) < seq for table, seq in state.trail.items()):
                changed = None  # the trail went backwards: a restore
            if changed is not None and not changed:
                key = ("live", str(base), state.snapshot)
                return Table(state.course, key, "stored", state.patients, state.digests, state.since, revision)
            if changed is not None and len(changed) <= limit and state.update_count < MAX_UPDATES:
                with stages("extraction"):
                    tables = read_tables(Patient.objects.filter(pk__in=changed), stream=len(changed) > STREAM_ABOVE)
                since = ("live", str(base), state.snapshot)
                with stages("frames"):
                    rows = build(tables)
                    state.replace(changed, rows)
                    state.snapshot, state.trail = now, lengths
                    if len(state.updates) + 1 < COMPACT_AFTER:
                        path = base.with_name(f"live-{CODE_VERSION}.u{len(state.updates) + 1:04d}.npz")
                        save(rows, path, {"patients": changed, "snapshot": now, "trail": lengths})
                        state.updates.append(path.name)
                    else:
                        _save_whole(directory, base, state.course, now, lengths, state.update_count + 1, state.digests)
                _memory[directory].since, _memory[directory].patients = since, changed
                key = ("live", str(base), now)
                return Table(state.course, key, "updated", changed, state.digests, since, revision)
        with stages("extraction"):
            tables = read_tables(Patient.objects.all())
        with stages("frames"):
            course = build(tables)
            del tables
            _save_whole(directory, base, course, now, lengths, 0)
        return Table(course, ("live", str(base), now), "built", digests=_memory[directory].digests, revision=revision)


def _save_whole(directory, base, course, snapshot, trail, updated, digests=None):
    """Write the whole live table (built from all rows, or with ``updated`` updates since), drop the
    update files beside it, and hold it as this process's table (with its columns' ``digests`` known so far)."""
    manifest = {"snapshot": snapshot, "trail": trail, "updated": updated, "saved": time.time()}
    save(course, base, manifest)
    for older in directory.glob("live-*.npz"):  # earlier code versions' tables, and updates
        if older != base:
            older.unlink(missing_ok=True)
    _memory.clear()
    state = _memory[directory] = _State(course, manifest, base.stat().st_mtime_ns)
    state.digests = {} if digests is None else digests


def _unchanged(old, new):
    """Whether ``new`` holds exactly ``old``'s values: the same dtype and bytes; texts and flags equal
    and of the same type (True and 1 differ)."""
    if old.dtype != new.dtype:
        return False
    if old.dtype != object:
        return old.tobytes() == new.tobytes()
    return all(a is b or (type(a) is type(b) and a == b) for a, b in zip(old, new, strict=True))


def _replace(course, patients, rows):
    """``course`` with the rows of ``patients`` replaced by ``rows`` (their rows read again; a
    patient no longer in the registry has none), in patient order; a new frame."""
    ids = np.asarray(patients, dtype=np.int64)
    at, present = _positions(course, ids)
    if present.all() and np.array_equal(rows["patient_id"].to_numpy(), ids):
        return _written_over(course, at, rows)  # edits only: the common case
    kept = course[~np.isin(course["patient_id"].to_numpy(), ids)]
    if rows.empty:
        return kept.reset_index(drop=True)
    rows = rows.astype(course.dtypes.to_dict())
    merged = pd.concat([kept, rows], ignore_index=True)
    order = np.argsort(merged["patient_id"].to_numpy(), kind="stable")
    return merged.take(order).reset_index(drop=True)


def _written_over(frame, at, rows):
    """``frame`` with its rows at the positions ``at`` written over by ``rows`` (the same columns and
    dtypes), as a new frame. A column whose values there are unchanged is the frame's own array
    (nothing writes into a course frame or the frames derived from it), so an edit copies the few
    columns it changed."""
    columns = {}
    for name, values in frame.items():
        old, new = values.to_numpy(), rows[name].to_numpy()
        if _unchanged(old[at], new):
            columns[name] = old
        else:
            columns[name] = old.copy()
            columns[name][at] = new
    return pd.DataFrame(columns, copy=False)


# --- Frames derived from the table ---------------------------------------------------------


def _positions(course, ids):
    """Where the patients ``ids`` (sorted) are in ``course`` (in patient order), and which are there."""
    table_ids = course["patient_id"].to_numpy()
    at = np.searchsorted(table_ids, ids)
    present = at < len(table_ids)
    present[present] = table_ids[at[present]] == ids[present]
    return at, present


def rows_of(course, patients):
    """The rows of ``patients`` (ids, sorted) in ``course``, in patient order, as a frame with a fresh
    index (a patient no longer in the table has none)."""
    at, present = _positions(course, np.asarray(patients, dtype=np.int64))
    return course.take(at[present]).reset_index(drop=True)


def update_frames(frames, patients, rows, derive):
    """``frames``, derived by ``derive`` from the table before an update that read ``patients`` again,
    brought up to date: the rows of those patients replaced by ``derive(rows)``, ``rows`` being theirs
    in the table after the update (:func:`rows_of`). Equal to ``derive`` of that whole table for a
    ``derive`` that is per patient: frames in patient order, each patient's rows from their own course
    row alone, with a ``patient_id`` (every analysis's frames are: ``tests/analysis/test_course_table.py``).
    None where a frame is not such a frame (or its rows changed in number where none was left to type
    them): derive them all."""
    ids = np.asarray(patients, dtype=np.int64)
    again = derive(rows)
    updated = {}
    for name, old in frames.items():
        new = again.get(name)
        if not isinstance(old, pd.DataFrame) or not isinstance(new, pd.DataFrame) or "patient_id" not in old:
            return None
        updated[name] = _frame_updated(old, ids, new)
        if updated[name] is None:
            return None
    return updated


def _frame_updated(old, ids, new):
    """One frame of :func:`update_frames`; None if it cannot be updated row by row."""
    if list(old.columns) != list(new.columns) or (len(new) and not old.dtypes.equals(new.dtypes)):
        return None
    old_ids = old["patient_id"].to_numpy()
    if (np.diff(old_ids) < 0).any():
        return None  # not in patient order
    at = _rows_at(old_ids, ids)
    changed = np.zeros(len(old_ids), dtype=bool)
    changed[at] = True
    if not len(at) and new.empty:
        return old  # none of those patients has rows here, before or after
    if np.array_equal(old_ids[at], new["patient_id"].to_numpy()):
        return _written_over(old, at, new)  # the same rows for each patient: edits only
    kept = old[~changed]
    if new.empty:
        return kept.reset_index(drop=True)
    if kept.empty:
        return None
    merged = pd.concat([kept, new], ignore_index=True)
    return merged.take(np.argsort(merged["patient_id"].to_numpy(), kind="stable")).reset_index(drop=True)


def _rows_at(sorted_ids, ids):
    """The positions of every row of the patients ``ids`` in ``sorted_ids`` (a frame's patient ids,
    in patient order), ascending: each patient's rows are a run found by binary search, not the
    whole column compared with each patient."""
    ids = np.unique(np.asarray(ids, dtype=sorted_ids.dtype))
    first, beyond = np.searchsorted(sorted_ids, ids, "left"), np.searchsorted(sorted_ids, ids, "right")
    counts = beyond - first
    return np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
