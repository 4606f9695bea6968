"""The registry's outcome analyses, one module each, collected in :data:`ANALYSES`.

Each module of this package declares one :class:`~analysis.analyses.base.Analysis`: the frames
it reads, its statistics, its figures and its report sections. Adding an analysis is adding a
module here plus its test: the package imports every module, and runs, the run command, the
dashboard, the report pages and the PDF find the analysis in :data:`ANALYSES`, in the order of
``Analysis.order``.
"""

import importlib
import pkgutil

from .. import reports
from .base import ANALYSES, Analysis, to_python

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
_ordered = sorted(ANALYSES.values(), key=lambda analysis: analysis.order)
ANALYSES.clear()
ANALYSES.update((analysis.name, analysis) for analysis in _ordered)

# The analyses the outcome report reads, in the order they are computed on "recompute".
REPORT_ANALYSES = tuple(name for name, analysis in ANALYSES.items() if analysis.report_sections)

__all__ = ["ANALYSES", "REPORT_ANALYSES", "Analysis", "build_report", "figure_specs", "to_python"]


def build_report(results):
    """The whole report from stored results (``{analysis name: results or None}``), in the
    paper's order: patients, outcomes, OS after second-line treatment by factor, the Cox model,
    competing risks, the corrections for immortal-time bias, outcomes from diagnosis."""
    return reports.numbered(
        section
        for analysis in ANALYSES.values()
        if analysis.report_sections
        for section in analysis.report_sections(results)
    )


def figure_specs(name, results):
    """Figure name -> :class:`analysis.figures.FigureSpec` for a stored result of analysis ``name``."""
    return ANALYSES[name].figures(results) if name in ANALYSES else {}
