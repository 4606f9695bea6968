"""Starting and executing analysis runs: the service layer of ``analysis``.

``request_run`` records a queued run and enqueues it after the transaction commits;
``execute_run`` (called by the Celery task, or in process without a broker) builds the
analysis data set, fingerprints it, reuses a stored result of identical data and code, and
otherwise computes and stores results and figures. Runs are idempotent: executing a run that
already succeeded does nothing, and a run interrupted by a lost worker is executed again.

The hand-off to the worker is durable (``registry.ops.handoff``): the queued run is its own
outbox row, sent again every minute until a worker takes it, so a broker outage delays a run
but never loses it. While it executes, the worker stamps a heartbeat; a running run whose
heartbeat stopped (its worker was killed) is re-queued once, then marked failed with the
reason, and neither the refresh after data changes nor Compute waits on it.
"""

import hashlib
import logging
import threading
import time
import traceback
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path

import lifelines
import numpy
import pandas
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from registry.course import read_tables
from registry.cuts import snapshot
from registry.models import DataRevision, Patient
from registry.ops import handoff

from . import course_table, datasets
from .analyses import ANALYSES, to_python
from .analyses.base import course_only
from .models import AnalysisRun

log = logging.getLogger(__name__)

TASK = "analysis.tasks.execute_run_task"
# The code that shapes results and figures (report pages, report files and admin do not).
CODE_FILES = ("analyses/*.py", "course_table.py", "datasets.py", "figures.py", "svg.py", "runs.py", "stats/*.py")
TRIALS = ("MLL96", "MLL98")


def code_files():
    """The files :data:`CODE_VERSION` hashes, relative to the ``analysis`` package, sorted."""
    root = Path(__file__).resolve().parent
    return sorted({path.relative_to(root).as_posix() for pattern in CODE_FILES for path in root.glob(pattern)})


def _code_version():
    """Hash of the analysis code and the numerical libraries it runs on."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for name in code_files():
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    for module in (lifelines, numpy, pandas):
        digest.update(f"{module.__name__}={module.__version__}".encode())
    return digest.hexdigest()[:16]


CODE_VERSION = _code_version()


def normalize_parameters(parameters=None):
    """The canonical parameters of a run: ``{}`` (the whole study) or a subset by trial and center.

    ``{"trial": "MLL96", "center": "TKY01"}``; keys with an empty value are dropped and the
    keys are sorted, so equal selections are stored (and matched) as equal JSON.
    """
    parameters = {k: v for k, v in (parameters or {}).items() if v not in (None, "")}
    unknown = set(parameters) - {"trial", "center"}
    if unknown:
        raise ValueError(f"Unknown run parameters: {', '.join(sorted(unknown))}")
    if "trial" in parameters and parameters["trial"] not in TRIALS:
        raise ValueError(f"Unknown trial {parameters['trial']!r}; known: {', '.join(TRIALS)}")
    return {k: str(parameters[k]) for k in sorted(parameters)}


def cohort(parameters):
    """The registered patients a run with ``parameters`` reads (every patient for ``{}``)."""
    patients = Patient.objects.all()
    if parameters.get("trial"):
        patients = patients.filter(trial__code=parameters["trial"])
    if parameters.get("center"):
        patients = patients.filter(center__code=parameters["center"])
    return patients


def request_run(name, *, trigger, user=None, parameters=None, cut=None):
    """Queue a run of analysis ``name`` on the patients ``parameters`` select (see
    :func:`normalize_parameters`), on the live data or at the data cut ``cut``; it is executed
    once the current transaction commits."""
    if name not in ANALYSES:
        raise ValueError(f"Unknown analysis {name!r}; known: {', '.join(ANALYSES)}")
    parameters = normalize_parameters(parameters)
    if cut is not None and cut.trial_id and parameters.get("trial", cut.trial.code) != cut.trial.code:
        raise ValueError(f"The data cut {cut.name!r} holds {cut.trial.code} only")
    with transaction.atomic():
        run = AnalysisRun.objects.create(
            name=name,
            trigger=trigger,
            requested_by=user if user and user.is_authenticated else None,
            parameters=parameters,
            data_cut=cut,
        )
        handoff.enqueue(TASK, run.pk)
    return run


def undelivered(runs_):
    """How many of these runs wait for the broker (it was unreachable when they were queued)."""
    return handoff.undelivered(TASK, [run.pk for run in runs_])


def live(queryset):
    """The runs of ``queryset`` still in hand: queued, or running on a live worker (not a dead one)."""
    return queryset.filter(handoff.live_q(TASK))


def mark_lost(run_id, reason, *, retry):
    """The run's worker was lost (``registry.ops.handoff``): queue it again, or fail it with the reason."""
    if retry:
        AnalysisRun.objects.filter(pk=run_id, status=AnalysisRun.Status.RUNNING).update(
            status=AnalysisRun.Status.QUEUED, error=reason + " Queued again."
        )
    else:
        AnalysisRun.objects.filter(
            pk=run_id, status__in=[AnalysisRun.Status.QUEUED, AnalysisRun.Status.RUNNING]
        ).update(status=AnalysisRun.Status.FAILED, error=reason, finished_at=timezone.now())


def request_all(*, trigger, user=None, cut=None):
    return [request_run(name, trigger=trigger, user=user, cut=cut) for name in ANALYSES]


class AnalysisBusy(Exception):
    """Another run of the same analysis is running; try again later."""


def _start(run):
    """Mark the run (read: not queued, or its claim refused) as running and return it as it is now;
    None if there is nothing to do (it finished). AnalysisBusy if it runs on a live worker, or another
    run of the analysis does (one whose worker was lost is reaped first): only one run per analysis
    at a time."""
    dead = (
        AnalysisRun.objects.filter(name=run.name, status=AnalysisRun.Status.RUNNING)
        .exclude(pk=run.pk)
        .exclude(handoff.live_q(TASK))
    )
    for other in dead.values_list("pk", flat=True):
        handoff.reap(handoff.KINDS[TASK], other)
    try:
        with transaction.atomic():
            current = AnalysisRun.objects.select_for_update().get(pk=run.pk)
            if current.status in (AnalysisRun.Status.SUCCEEDED, AnalysisRun.Status.FAILED):
                return None
            if current.status == AnalysisRun.Status.RUNNING and handoff.is_alive(TASK, run.pk):
                # A second delivery while its worker still stamps: try later (done by then, or lost).
                raise AnalysisBusy(f"run {run.pk} is running on another worker")
            current.status, current.started_at = AnalysisRun.Status.RUNNING, timezone.now()
            current.attempts += 1
            AnalysisRun.objects.filter(pk=run.pk).update(
                status=current.status, started_at=current.started_at, attempts=current.attempts
            )
    except IntegrityError:
        raise AnalysisBusy(f"{run.name} is already running") from None
    return current  # read under the lock, with what was just written: no second read


def _claim(run_id):
    """The usual delivery, a queued run: marked running and read back in one statement (``UPDATE ...
    RETURNING``); None if it is not queued (any more), or the constraint refused it (another run of
    the analysis is marked running), and :func:`_start` looks closer."""
    qn, field = connection.ops.quote_name, AnalysisRun._meta.get_field
    status, started_at, attempts = (qn(field(name).column) for name in ("status", "started_at", "attempts"))
    sql = (
        f"UPDATE {qn(AnalysisRun._meta.db_table)} SET {status} = %s, {started_at} = %s, {attempts} = {attempts} + 1 "
        f"WHERE {qn(AnalysisRun._meta.pk.column)} = %s AND {status} = %s RETURNING *"
    )
    now = field("started_at").get_db_prep_value(timezone.now(), connection)
    params = [AnalysisRun.Status.RUNNING.value, now, run_id, AnalysisRun.Status.QUEUED.value]
    try:
        # Inside a transaction, a savepoint keeps a refusal from breaking it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            return next(iter(AnalysisRun.objects.raw(sql, params)), None)
    except IntegrityError:
        return None


class Stages(dict):
    """Seconds a run spent in each stage: ``extraction`` (reading the rows), ``frames`` (the course
    frame and the analysis's frames), ``fingerprint``, ``statistics``, ``figures``, ``storage``."""

    @contextmanager
    def __call__(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - start


_course_cache = {}


def _course_frame(parameters, cut=None, stages=None):
    """The course frame for ``parameters``, its cache key and the data revision it holds (None at a
    data cut), reused by the analyses that run one after another.

    On PostgreSQL, outside a transaction, the course table kept on disk and updated from the log
    of changed patients (``analysis.course_table``): a run reads only what changed since the last
    one, whichever worker process ran it. Otherwise built in memory and cached per process for one
    data revision (its number and time: every clinical write bumps it) or data cut. Either way the
    frame has the same rows and dtypes; the analyses of a subset (``parameters``) read its rows.
    The cache entry also holds the frame's column digests known so far (``digests``, kept by the
    course table for the whole table across updates) and its fingerprint, computed once for every
    analysis that reads it.
    """
    stages = Stages() if stages is None else stages
    if course_table.persistent():
        table = course_table.current(stages, cut)
        revision = table.revision
        key = (*table.key, tuple(sorted(parameters.items())))
        if key not in _course_cache:
            # The table this one updated, as this process last read it: its analyses' frames are
            # updated, not derived again (the whole study's only).
            before = _course_cache.get((*table.since, ())) if table.since and not parameters else None
            _course_cache.clear()
            # A subset's columns are new arrays: their digests are its own.
            _course_cache[key] = {"course": table.course, "digests": {} if parameters else table.digests, "frames": {}}
            if before is not None:
                rows = course_table.rows_of(table.course, table.patients)
                _course_cache[key]["before"] = (before["frames"], table.patients, rows)
    else:
        state = DataRevision.current()
        revision = None if cut is not None else state.revision
        at = ("cut", cut.pk) if cut is not None else (state.revision, state.changed_at)
        key = (*at, tuple(sorted(parameters.items())))
        if key not in _course_cache:
            _course_cache.clear()
            with stages("extraction"):
                tables = snapshot.tables(cut.snapshot, {}) if cut is not None else read_tables(Patient.objects.all())
            with stages("frames"):
                _course_cache[key] = {"course": course_table.build(tables), "digests": {}, "frames": {}}
            del tables
    with stages("frames"):
        return key, course_table.select(_course_cache[key]["course"], parameters), revision


def course_for(parameters, cut=None):
    """The course frame the runs on ``parameters`` (live, or at the data cut ``cut``) read."""
    return _course_frame(normalize_parameters(parameters), cut)[1]


def _inputs(analysis, parameters, cut=None, stages=None):
    """(course frame, the analysis's frames, the fingerprint of the course frame, the data revision
    it holds: None at a data cut). Every analysis
    derives its frames from the course frame alone, by code that ``CODE_VERSION`` names: the course
    frame's fingerprint and the code version identify what a run read. Hashed once per course frame,
    and of the course table only the columns an update changed."""
    stages = Stages() if stages is None else stages
    key, course, revision = _course_frame(parameters, cut, stages)
    entry = _course_cache[key]
    with stages("frames"):
        frames = _frames(analysis, course, entry)
    with stages("fingerprint"):
        if "fingerprint" not in entry:
            entry["fingerprint"] = datasets.fingerprint(course, digests=entry["digests"])
    return course, frames, entry["fingerprint"], revision


def _frames(analysis, course, entry):
    """The analysis's frames of the course frame, derived once per course frame and kept in its cache
    ``entry`` (the analyses never write into them). After an update of the course table, those of the
    table before it with the changed patients' rows derived again (``course_table.update_frames``)."""
    if analysis.inputs is course_only:
        return analysis.inputs(course)
    if analysis.name not in entry["frames"]:
        before, patients, rows = entry.get("before", ({}, (), None))
        earlier = before.pop(analysis.name, None)
        frames = None if earlier is None else course_table.update_frames(earlier, patients, rows, analysis.inputs)
        entry["frames"][analysis.name] = analysis.inputs(course) if frames is None else frames
    return entry["frames"][analysis.name]


def data_fingerprint(run):
    """The fingerprint of the data ``run`` reads now: its analysis's frames on its patients, live or
    at its data cut. Equal to ``run.fingerprint`` while the data have not changed since (always, at a cut)."""
    parameters = normalize_parameters(run.parameters)
    return _inputs(ANALYSES[run.name], parameters, run.data_cut)[2]


def execute_run(run_id):
    """Execute run ``run_id``; returns the run. Safe to call again for the same run."""
    run = _claim(run_id)
    if run is None:
        run = AnalysisRun.objects.get(pk=run_id)
        started = None if run.status == AnalysisRun.Status.SUCCEEDED else _start(run)
        if started is None:
            return run
        run = started
    with handoff.running(TASK, run.pk):
        _execute(run)
    return run


def _execute(run):
    analysis = ANALYSES[run.name]
    clock = time.perf_counter()
    stages = Stages()
    sent = ()
    try:
        parameters = normalize_parameters(run.parameters)
        course, frames, fingerprint, revision = _inputs(analysis, parameters, run.data_cut, stages)
        # The live data's revision, read with the course frame (one snapshot): exactly the data the run read.
        revision = run.data_cut.data_revision if run.data_cut_id else revision
        run.data_revision, run.fingerprint, run.code_version = revision, fingerprint, CODE_VERSION
        run.n_patients = len(course)
        del course
        earlier = (
            AnalysisRun.objects.filter(
                name=run.name,
                status=AnalysisRun.Status.SUCCEEDED,
                fingerprint=fingerprint,
                code_version=CODE_VERSION,
                parameters=parameters,
            )
            .exclude(pk=run.pk)
            .order_by("-finished_at")
            .first()
        )
        if earlier is not None:
            run.results, run.figures, run.reused_from = earlier.results, earlier.figures, earlier.reused_from or earlier
        else:
            with stages("statistics"):
                run.results = to_python(analysis.compute(frames))
            del frames
            with ExitStack() as writing:
                results_sent = writing.enter_context(_written_meanwhile(run, "results"))
                with stages("figures"):
                    run.figures = analysis.draw(run.results)
                with stages("storage"):
                    writing.close()  # waits for the results' write
            sent = results_sent
        run.status = AnalysisRun.Status.SUCCEEDED
        run.error = ""
    except Exception:
        log.exception("Analysis run %s (%s) failed", run.pk, run.name)
        run.status = AnalysisRun.Status.FAILED
        run.error = traceback.format_exc()
    run.finished_at = timezone.now()
    run.duration_seconds = time.perf_counter() - clock
    # What was written while the figures were drawn is not written again (if that write failed, the
    # run failed, and they are saved with it here).
    fields = [f.name for f in AnalysisRun._meta.concrete_fields if not f.primary_key and f.name not in sent]
    with stages("storage"), _parameters_apart(), handoff.finishing(TASK, run.pk):
        run.save(update_fields=fields)
    run.stage_seconds = dict(stages)  # not stored: the log and the benchmark read it
    log.info(
        "Analysis run %s (%s): %.2f s (%s)",
        run.pk,
        run.name,
        run.duration_seconds,
        ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stages.items()),
    )


@contextmanager
def _parameters_apart():
    """On PostgreSQL, statements send their parameters apart from the SQL (server-side binding), not
    quoted into it as Django's cursors do: a run's few MB of results and figures are sent as they are,
    in about half the time. Nothing else changes: the same UPDATE, the same values."""
    if connection.vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    raw = connection.connection
    quoting, raw.cursor_factory = raw.cursor_factory, ServerBindingCursor
    try:
        yield
    finally:
        raw.cursor_factory = quoting


@contextmanager
def _written_meanwhile(run, *fields):
    """On PostgreSQL, ``fields`` of the run (its results) written to its row while the block runs (the
    figures are drawn): the UPDATE is sent in pipeline mode, and the database writes a few MB while
    Python draws, instead of after it. The block's end waits for the write and commits it (outside a
    transaction); its error, if any, is raised there. Yields the fields on their way (none elsewhere:
    the run's save writes them with the rest)."""
    if connection.vendor != "postgresql":
        yield ()
        return
    table, qn = AnalysisRun._meta.db_table, connection.ops.quote_name
    values = [AnalysisRun._meta.get_field(name) for name in fields]
    sets = ", ".join(f"{qn(f.column)} = %s" for f in values)
    sql = f"UPDATE {qn(table)} SET {sets} WHERE {qn(AnalysisRun._meta.pk.column)} = %s"
    params = [f.get_db_prep_value(getattr(run, f.attname), connection) for f in values]
    with _parameters_apart(), connection.connection.pipeline(), connection.cursor() as cursor:
        cursor.execute(sql, [*params, run.pk])
        yield fields


def latest_runs(parameters=None, names=None, cut=None):
    """The newest successful run of each analysis on the patients ``parameters`` select
    (default: the whole study), on the live data or at the data cut ``cut``; None where there is none yet."""
    parameters = normalize_parameters(parameters)
    return {
        name: AnalysisRun.objects.filter(
            name=name, status=AnalysisRun.Status.SUCCEEDED, parameters=parameters, data_cut=cut
        )
        .order_by("-finished_at")
        .first()
        for name in names or ANALYSES
    }


def refresh_if_data_changed(*, quiet_seconds=120):
    """Queue every analysis once the data changed since the last runs and has been quiet.

    Called every minute by beat: a burst of edits (80 in a row) leads to one set of runs,
    started ``quiet_seconds`` after the last edit.
    """
    state = DataRevision.current()
    if state.changed_at is None or timezone.now() - state.changed_at < timedelta(seconds=quiet_seconds):
        return []
    # Study-wide runs only: a report filtered by trial or center is recomputed on request.
    study_wide = AnalysisRun.objects.filter(parameters={}, data_cut=None)
    newest = study_wide.exclude(data_revision=None).order_by("-data_revision").first()
    # Queued runs will run (the outbox delivers them); a running run whose worker died is not waited on.
    pending = live(study_wide)
    if (newest and newest.data_revision >= state.revision) or pending.exists():
        return []
    return request_all(trigger=AnalysisRun.Trigger.DATA_CHANGE)


_refresh_timer = None
_refresh_lock = threading.Lock()


def refresh_soon(**_signal):
    """Without a broker (the embedded demo), run beat's after-change refresh in this process once
    edits have been quiet for ``ANALYSIS_QUIET_SECONDS``: each data change restarts the countdown,
    so a burst of edits gives one set of runs. With a broker this is off: beat does it every minute."""
    global _refresh_timer
    if not settings.ANALYSIS_REFRESH_IN_PROCESS:
        return
    quiet = settings.ANALYSIS_QUIET_SECONDS
    with _refresh_lock:
        if _refresh_timer is not None:
            _refresh_timer.cancel()
        _refresh_timer = threading.Timer(quiet, _refresh_in_process, kwargs={"quiet_seconds": quiet})
        _refresh_timer.daemon = True
        _refresh_timer.start()


def _refresh_in_process(quiet_seconds):
    try:
        refresh_if_data_changed(quiet_seconds=quiet_seconds)
    except Exception:
        log.exception("The in-process refresh after data changes failed")
    finally:
        connection.close()  # this thread's own connection
