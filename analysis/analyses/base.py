"""What an analysis is, the registry that collects them, and the helpers they share.

An analysis is declared once, in its own module of this package, as an :class:`Analysis`:
the frames it reads (derived from the course frame), the statistics that turn them into a
JSON-ready result in the versioned shape of docs/analysis-results.md, the figures drawn from
that result, and the report sections that show it. :func:`register` adds it to
:data:`ANALYSES`, from which runs, figures, the report and the pages all read.

``compute`` is pure (frames in, dict out, no Django); the statistics come from
``analysis.stats``. An estimate that cannot be computed (an empty group, no events, a factor
without variation) is reported as ``{"error": "..."}`` in its place, so one thin subgroup never
fails the whole run.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.utils import translation

from .. import figures, stats
from ..stats import StatsInputError

SCHEMA_VERSION = 1
YEARS = (1, 3, 5)
DAYS_PER_YEAR = 365.25
FIXED_TIMES = tuple(y * DAYS_PER_YEAR for y in YEARS)


@dataclass(frozen=True)
class Analysis:
    """One analysis, declared once.

    name
        The key of its stored runs (``AnalysisRun.name``) and of its results' ``schema``.
    title
        What the dashboard and the admin call it.
    order
        Its place among the analyses: in the report (its sections), on the dashboard and when
        every analysis is run.
    inputs
        ``course frame -> {frame name: DataFrame}``: the frames it reads, derived from the course
        frame alone (whose content, with the code version, is the run's fingerprint).
    compute
        ``frames -> results``: the statistics, a JSON-ready dict (pure).
    figure_specs
        ``results -> {figure name: analysis.figures.FigureSpec}``, drawn from stored results
        only (None: no figures).
    report_sections
        ``{analysis name: results or None} -> [analysis.reports.Section]``: its part of the
        outcome report, in the paper's order; it may read another analysis's results (None:
        not in the report).
    """

    name: str
    title: str
    order: int
    inputs: Callable
    compute: Callable
    figure_specs: Callable | None = None
    report_sections: Callable | None = None

    def figures(self, results):
        """Figure name -> :class:`analysis.figures.FigureSpec` for stored ``results`` ({} if none)."""
        return self.figure_specs(results) if self.figure_specs else {}

    def draw(self, results):
        """The figures as SVG text, as a run stores them: in English whoever started the run (a run
        started from a Japanese page in the embedded demo runs in that request)."""
        with translation.override("en"):
            return {name: figures.to_svg(spec) for name, spec in self.figures(results).items()}


# Every analysis, by name, in ``order`` once the package has imported its modules.
ANALYSES = {}


def register(analysis):
    if analysis.name in ANALYSES:
        raise ValueError(f"Analysis {analysis.name!r} is declared twice")
    ANALYSES[analysis.name] = analysis
    return analysis


def course_only(course):
    """``inputs`` of an analysis that reads the course frame itself."""
    return {"course": course}


# --- helpers the analyses share -----------------------------------------------------------


def guard(compute, *args, **kwargs):
    """Run one estimate; a StatsInputError becomes ``{"error": message}`` in the results."""
    try:
        return compute(*args, **kwargs)
    except StatsInputError as exc:
        return {"error": str(exc)}


def km(frame):
    """Kaplan-Meier of ``time``/``event`` with estimates at 1, 3 and 5 years."""
    return guard(stats.kaplan_meier, frame["time"], frame["event"], times=FIXED_TIMES)


def by_factor(frame, factor, label):
    """Kaplan-Meier curves by the levels of ``factor`` and their log-rank test."""
    groups = frame[factor].astype(str)
    return {
        "factor": factor,
        "label": label,
        "curves": guard(stats.kaplan_meier_by_group, frame["time"], frame["event"], groups, times=FIXED_TIMES),
        "logrank": guard(stats.logrank_test, frame["time"], frame["event"], groups),
    }


def median_range(values):
    values = pd.Series(values).dropna()
    if values.empty:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {
        "n": int(len(values)),
        "median": float(values.median()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


_PLAIN = frozenset({str, int, bool, type(None)})
_FLOAT = frozenset({float})


def to_python(value):
    """Make numpy scalars and NaN JSON-safe (None)."""
    kind = type(value)
    if kind in _PLAIN:  # most of a results document's values: as they are, without the checks below
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        kinds = set(map(type, value))
        if kinds <= _PLAIN:  # a column of a table: checked in bulk, not value by value
            return list(value)
        if kinds == _FLOAT and all(map(math.isfinite, value)):  # most columns: floats alone
            return list(value)
        if kinds <= _PLAIN | _FLOAT and all(map(math.isfinite, [v for v in value if type(v) is float])):
            return list(value)
        return [to_python(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
