"""Confidence intervals: a clustered percentile bootstrap for ratios, and the Wilson score interval.

Pure Python (``random.Random``), deterministic for a given seed, so results recompute exactly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from operator import itemgetter
from statistics import NormalDist

Interval = tuple[float, float]


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion ``successes / n``.

    Better behaved than the normal approximation near 0 and 1 and for small ``n`` (it never
    leaves [0, 1]). With ``n == 0`` there is no information and the interval is (0.0, 1.0).
    Raises ``ValueError`` when ``successes`` is outside ``0..n`` or ``confidence`` outside (0, 1).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0/n and n/n the bound is exactly 0 or 1; computing it leaves floating-point dust.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == n else min(1.0, centre + half_width)
    return (low, high)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of already sorted values, interpolating linearly between ranks.

    The same definition as numpy's default ("linear"), so figures can be checked with it.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 1:
        raise ValueError(f"q must be in [0, 1], got {q}")
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (position - low) * (sorted_values[high] - sorted_values[low])


def cluster_bootstrap_ratio_cis(
    clusters: Sequence[Sequence[float]],
    ratios: Sequence[tuple[int, int]],
    *,
    n_boot: int,
    seed: int,
    confidence: float = 0.95,
) -> list[Interval | None]:
    """Percentile-bootstrap intervals for ratios of sums, resampling whole clusters.

    ``clusters`` holds one vector of totals per cluster (e.g. per question: items, correct,
    answered); ``ratios`` names (numerator index, denominator index) pairs into those vectors,
    so ``(1, 0)`` is "sum of column 1 / sum of column 0". Each of ``n_boot`` resamples draws as
    many clusters as there are, with replacement, from ``random.Random(seed)``; all ratios are
    computed on the same resamples. Items inside a cluster are correlated (the two orders of a
    pair, several pairs of one question), so resampling clusters rather than items keeps the
    interval honest. Resamples whose denominator sums to 0 are skipped for that ratio; a ratio
    with no usable resample (or ``n_boot == 0``, or no clusters) gets ``None``.

    Works on cluster totals, so the cost is ``n_boot x n_clusters`` C-level lookups: 1,000
    resamples of 2,000 clusters take a fraction of a second.
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n_clusters = len(clusters)
    if n_boot == 0 or n_clusters == 0:
        return [None for _ in ratios]

    width = len(clusters[0])
    columns = [[float(cluster[c]) for cluster in clusters] for c in range(width)]
    used = sorted({index for ratio in ratios for index in ratio})
    rng = random.Random(seed)
    population = range(n_clusters)
    samples: list[list[float]] = [[] for _ in ratios]
    for _ in range(n_boot):
        drawn = rng.choices(population, k=n_clusters)
        if n_clusters == 1:
            sums = {c: columns[c][0] for c in used}
        else:
            pick = itemgetter(*drawn)
            sums = {c: sum(pick(columns[c])) for c in used}
        for slot, (numerator, denominator) in enumerate(ratios):
            if sums[denominator] > 0:
                samples[slot].append(sums[numerator] / sums[denominator])

    alpha = 1 - confidence
    intervals: list[Interval | None] = []
    for values in samples:
        if not values:
            intervals.append(None)
            continue
        values.sort()
        intervals.append((percentile(values, alpha / 2), percentile(values, 1 - alpha / 2)))
    return intervals


# Below this many questions a percentile bootstrap has too few distinct resamples to cover (at 4
# questions all correct it collapses to zero width); a design-effect Wilson interval is used.
SMALL_GROUP_QUESTIONS = 25


def intra_cluster_correlation(clusters: Sequence[tuple[float, float]]) -> float | None:
    """ANOVA estimate of the intra-cluster correlation of a binary outcome, floored at 0, capped at 1.

    ``clusters`` holds (successes, trials) per cluster. None when it cannot be estimated: fewer
    than two non-empty clusters, or no variation at all (every outcome alike).
    """
    rows = [(float(s), float(m)) for s, m in clusters if m > 0]
    k = len(rows)
    n = sum(m for _, m in rows)
    if k < 2 or n <= k:
        return None
    p = sum(s for s, _ in rows) / n
    between = sum(m * (s / m - p) ** 2 for s, m in rows) / (k - 1)
    within = sum(s * (1 - s / m) for s, m in rows) / (n - k)
    m0 = (n - sum(m * m for _, m in rows) / n) / (k - 1)
    denominator = between + (m0 - 1) * within
    if denominator <= 0:
        return None
    return min(1.0, max(0.0, (between - within) / denominator))


def design_effect(clusters: Sequence[tuple[float, float]]) -> float:
    """Kish's design effect 1 + (m - 1) * ICC, m the size-weighted mean cluster size; at least 1.

    With one cluster the correlation cannot be estimated and every item may be alike: the whole
    cluster counts as one observation (deff = its size). With no variation the ICC is taken as 0.
    """
    sizes = [float(m) for _, m in clusters if m > 0]
    n = sum(sizes)
    if not sizes:
        return 1.0
    if len(sizes) == 1:
        return max(1.0, sizes[0])
    icc = intra_cluster_correlation(clusters) or 0.0
    mean_size = sum(m * m for m in sizes) / n
    return max(1.0, 1.0 + (mean_size - 1.0) * icc)


def _wilson_real(p: float, n: float, z: float) -> Interval:
    """Wilson score interval for proportion ``p`` at a (possibly fractional) effective size ``n``."""
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half_width), min(1.0, centre + half_width))


def clustered_wilson_interval(
    clusters: Sequence[tuple[float, float]], *, confidence: float = 0.95
) -> tuple[Interval, float] | None:
    """Wilson interval of sum(successes) / sum(trials) with an effective size n / deff.

    Items of one question are correlated, so they carry less than one item's worth of evidence
    each; the design effect from the intra-cluster correlation shrinks n accordingly (Kish).
    Returns (interval, deff), or None when there are no trials. Never zero width.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = sum(float(m) for _, m in clusters)
    if n <= 0:
        return None
    successes = sum(float(s) for s, _ in clusters)
    deff = design_effect(clusters)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return _wilson_real(successes / n, n / deff, z), deff
