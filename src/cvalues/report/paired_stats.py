"""Paired tests for two runs over the same items: McNemar's exact test and a paired bootstrap.

Pure Python (integer binomials, ``random.Random``): deterministic, no scipy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from operator import itemgetter

from cvalues.scoring.stats import Interval, percentile

ALPHA = 0.05


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs.

    ``a_only``: items right in run A and wrong in run B; ``b_only`` the reverse. Under "no
    difference" each discordant item is equally likely either way, so the smaller count follows
    Binomial(a_only + b_only, 1/2); the p-value is twice its lower tail, capped at 1. With no
    discordant items there is no evidence of a difference: 1.0.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"counts must be >= 0, got {a_only}, {b_only}")
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(a_only, b_only) + 1))
    # Exact integer arithmetic until the one division: no underflow for thousands of items.
    return float(min(1.0, 2 * tail / 2**n))


Statistic = Callable[[Sequence[float]], float | None]


def paired_cluster_bootstrap(
    clusters: Sequence[Sequence[float]],
    statistic: Statistic,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval | None:
    """Percentile interval of ``statistic`` over resamples of whole clusters.

    Each cluster is a vector of per-cluster totals for both runs (e.g. items, correct in A,
    correct in B); ``statistic`` maps the summed vector of a resample to a number (e.g. the
    difference in accuracy), or None when undefined for that resample (it is skipped). Both
    runs are resampled together, which is what makes the bootstrap paired; resampling whole
    questions keeps the two orders of a pair together, as the run's own intervals do.
    """
    if not clusters or n_boot <= 0:
        return None
    width = len(clusters[0])
    columns = [[float(c[i]) for c in clusters] for i in range(width)]
    rng = random.Random(seed)
    population = range(len(clusters))
    values: list[float] = []
    for _ in range(n_boot):
        drawn = rng.choices(population, k=len(clusters))
        if len(clusters) == 1:
            sums = [column[0] for column in columns]
        else:
            pick = itemgetter(*drawn)
            sums = [sum(pick(column)) for column in columns]
        value = statistic(sums)
        if value is not None:
            values.append(value)
    if not values:
        return None
    values.sort()
    alpha = 1 - confidence
    return (percentile(values, alpha / 2), percentile(values, 1 - alpha / 2))


def excludes_zero(interval: Interval | None) -> bool:
    return interval is not None and (interval[0] > 0 or interval[1] < 0)
