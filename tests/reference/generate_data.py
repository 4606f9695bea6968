"""Generate the synthetic reference data sets in ``tests/reference/data/``.

Deterministic (fixed seeds); run from the repository root with
``.venv/bin/python tests/reference/generate_data.py``. The CSVs are committed, so this
only needs re-running if the design of the data sets changes. After re-running it,
regenerate the R results: ``Rscript tests/reference/survival_reference.R``.

Column convention (see also the header of ``survival_reference.R``):

* patient frame ``<name>.csv``: id, duration (days), event (0/1), event_type
  (0 censored, 1 event of interest, 2 competing), group (string, >= 2 levels),
  bin1, bin2 (0/1), cont (numeric).
* counting-process frame ``<name>_cp.csv``: id, start, stop, event, transplanted
  (0/1, time-dependent), bin1, cont.
"""

from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"


def _simulate(rng, n, group_sizes, time_unit, censor_max, base_rate):
    """Exponential event times depending on covariates, coarsened to ``time_unit`` days."""
    groups = np.repeat(np.array(["A", "B", "C"]), group_sizes)
    rng.shuffle(groups)
    bin1 = rng.binomial(1, 0.4, n)
    bin2 = rng.binomial(1, 0.3, n)
    cont = np.round(rng.normal(0.0, 1.0, n), 3)
    group_effect = pd.Series(groups).map({"A": 0.0, "B": 0.5, "C": -0.3}).to_numpy()
    rate = base_rate * np.exp(0.7 * bin1 - 0.4 * bin2 + 0.3 * cont + group_effect)
    t_event = rng.exponential(1.0 / rate)
    t_censor = rng.uniform(0.0, censor_max, n)
    raw = np.minimum(t_event, t_censor)
    # integer durations (multiples of time_unit) so that ties occur
    duration = np.maximum(1, np.ceil(raw / time_unit)).astype(int) * time_unit
    event = (t_event <= t_censor).astype(int)
    # among events, ~60% are the event of interest (relapse), the rest competing (death in CR)
    event_type = np.where(event == 1, np.where(rng.uniform(size=n) < 0.6, 1, 2), 0)
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "duration": duration,
            "event": event,
            "event_type": event_type,
            "group": groups,
            "bin1": bin1,
            "bin2": bin2,
            "cont": cont,
        }
    )


def _counting_process(rng, frame, p_transplant):
    """Split each patient at a transplant time (if transplanted before the end of follow-up)."""
    rows = []
    for rec in frame.itertuples(index=False):
        tx = None
        if rec.duration >= 2 and rng.uniform() < p_transplant:
            tx = int(rng.integers(1, rec.duration))  # 1 <= tx < duration
        if tx is None:
            rows.append((rec.id, 0, rec.duration, rec.event, 0, rec.bin1, rec.cont))
        else:
            rows.append((rec.id, 0, tx, 0, 0, rec.bin1, rec.cont))
            rows.append((rec.id, tx, rec.duration, rec.event, 1, rec.bin1, rec.cont))
    return pd.DataFrame(rows, columns=["id", "start", "stop", "event", "transplanted", "bin1", "cont"])


def _flat_median():
    """Ten patients, no censoring: S(t) is exactly 0.5 on [5, 6), and the curve ends at 0."""
    n = 10
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "duration": np.arange(1, n + 1) * 10,
            "event": np.ones(n, dtype=int),
            "event_type": np.array([1, 2, 1, 1, 2, 1, 2, 1, 1, 2]),
            "group": ["A", "B", "C", "A", "B", "C", "A", "B", "C", "A"],
            "bin1": [0, 1, 0, 1, 0, 1, 0, 1, 1, 0],
            "bin2": [1, 0, 0, 1, 0, 0, 1, 1, 0, 0],
            "cont": [0.5, -1.2, 0.3, 1.1, -0.4, 0.0, 2.1, -0.7, 0.9, -1.5],
        }
    )


def main():
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(19950101)
    # many ties (durations in 30-day units), small groups
    ties = _simulate(rng, 48, [7, 11, 30], time_unit=30, censor_max=900, base_rate=1 / 400)
    # heavy censoring (> 60 %), durations in whole days
    cens = _simulate(rng, 160, [40, 50, 70], time_unit=1, censor_max=2500, base_rate=1 / 6000)
    assert 1 - cens["event"].mean() > 0.6, cens["event"].mean()
    for name, frame, p_tx in (("ties_small_groups", ties, 0.4), ("heavy_censoring", cens, 0.3)):
        frame.to_csv(DATA_DIR / f"{name}.csv", index=False)
        _counting_process(rng, frame, p_tx).to_csv(DATA_DIR / f"{name}_cp.csv", index=False)
    _flat_median().to_csv(DATA_DIR / "flat_median.csv", index=False)


if __name__ == "__main__":
    main()
