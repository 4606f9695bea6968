"""Pure statistics layer of the registry (no Django imports anywhere in this package).

Inputs are pandas DataFrames / array-likes; outputs are JSON-serialisable dicts (NaN and inf
become None). Times are in days unless stated; results also give years (365.25 days).
Reference values come from R (survival, cmprsk); see tests/reference/.
lifelines computes the Kaplan-Meier curves; the Cox models (``_cox_fit.py``), competing risks,
log-rank and the rest are our own vectorised numpy code, fast at a million patients.
docs/statistics.md says which part comes from where.
"""

from ._common import StatsInputError
from .competing_risks import cumulative_incidence, grays_test
from .cox import cox_model
from .cox_time_varying import cox_time_varying
from .kaplan_meier import (
    kaplan_meier,
    kaplan_meier_by_group,
    number_at_risk,
    reverse_km_median_followup,
    rmst_difference,
)
from .landmark import counting_process_frame, landmark_frame
from .logrank import logrank_test
from .proportions import binomial_proportion
from .simon_makuch import simon_makuch

__all__ = [
    "StatsInputError",
    "binomial_proportion",
    "counting_process_frame",
    "cox_model",
    "cox_time_varying",
    "cumulative_incidence",
    "grays_test",
    "kaplan_meier",
    "kaplan_meier_by_group",
    "landmark_frame",
    "logrank_test",
    "number_at_risk",
    "reverse_km_median_followup",
    "rmst_difference",
    "simon_makuch",
]
