"""Binomial proportions with exact (Clopper-Pearson) confidence intervals."""

from __future__ import annotations

from scipy.stats import beta

from ._common import StatsInputError, clean


def binomial_proportion(successes: int, n: int, *, conf_level: float = 0.95) -> dict:
    """Proportion ``successes / n`` with the exact Clopper-Pearson interval of R
    ``binom.test(successes, n)$conf.int``.

    Parameters
    ----------
    successes : int
        Number of patients with the outcome (e.g. remission after salvage), 0 <= successes <= n.
    n : int
        Number of evaluable patients (> 0).
    conf_level : float
        Confidence level (default 0.95).

    Returns
    -------
    dict
        ``successes``, ``n``, ``proportion``, ``percent``, ``lower``, ``upper`` (proportions),
        ``conf_level``, ``method``.
    """
    for name, value in (("successes", successes), ("n", n)):
        try:
            whole = not isinstance(value, bool) and float(value).is_integer()
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise StatsInputError(f"'{name}' must be a whole number, got {value!r}")
    successes, n = int(successes), int(n)
    if n <= 0:
        raise StatsInputError(f"'n' must be positive, got {n}")
    if not 0 <= successes <= n:
        raise StatsInputError(f"'successes' must be between 0 and n = {n}, got {successes}")
    if not 0 < conf_level < 1:
        raise StatsInputError(f"conf_level must be between 0 and 1, got {conf_level}")
    alpha = 1 - conf_level
    # quantiles of beta distributions, exactly as binom.test (p.L / p.U)
    lower = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, n - successes + 1))
    upper = 1.0 if successes == n else float(beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    prop = successes / n
    return clean(
        {
            "successes": successes,
            "n": n,
            "proportion": prop,
            "percent": 100 * prop,
            "lower": lower,
            "upper": upper,
            "conf_level": conf_level,
            "method": "exact (Clopper-Pearson)",
        }
    )
