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


# Up to this many questions every sign pattern is enumerated (2**12 = 4096): an exact test.
_EXACT_CLUSTERS = 12


def _sign_patterns(k: int, n_perm: int, seed: int) -> tuple[list[list[int]], bool]:
    """All 2**k sign vectors when k is small (exact), else ``n_perm`` random ones (Monte Carlo)."""
    if k <= _EXACT_CLUSTERS:
        return [[1 if (code >> q) & 1 else -1 for q in range(k)] for code in range(2**k)], True
    rng = random.Random(seed)
    patterns = []
    for _ in range(n_perm):
        bits = rng.getrandbits(k)
        patterns.append([1 if (bits >> q) & 1 else -1 for q in range(k)])
    return patterns, False


class SignFlipTest:
    """Paired sign-flip (permutation) test over questions, and the interval that inverts it.

    ``clusters`` holds one (items, sum of B - A over those items) per question. Under "no
    difference" the two runs are exchangeable within a question, so each question's difference
    is as likely to have either sign; flipping whole questions keeps the items of a question
    (both orders, several pairs) together, which an item-level test (McNemar) does not. The
    statistic is the mean difference per item, sum(d) / sum(items); the p-value is two-sided.

    The 95% interval is the set of shifts delta that the same test does not reject when each
    question's difference is moved by delta * items, so "significant" and "the interval excludes
    0" are the same decision by construction.
    """

    def __init__(self, clusters: Sequence[tuple[float, float]], *, n_perm: int = 2000, seed: int = 0) -> None:
        self.sizes = [float(m) for m, _ in clusters]
        self.diffs = [float(d) for _, d in clusters]
        self.n = sum(self.sizes)
        patterns, self.exact = _sign_patterns(len(clusters), n_perm, seed)
        # sum(s * (d - delta * m)) = A - delta * B for each pattern s: precomputed once, so testing
        # any delta costs one pass over the patterns.
        self._a = [sum(s * d for s, d in zip(p, self.diffs, strict=True)) for p in patterns]
        self._b = [sum(s * m for s, m in zip(p, self.sizes, strict=True)) for p in patterns]

    @property
    def estimate(self) -> float | None:
        return sum(self.diffs) / self.n if self.n else None

    def p_value(self, delta: float = 0.0) -> float:
        """Two-sided p-value of "the mean difference per item is ``delta``"."""
        if not self.n:
            return 1.0
        observed = abs(sum(self.diffs) - delta * self.n) - 1e-9 * max(1.0, self.n)
        extreme = sum(1 for a, b in zip(self._a, self._b, strict=True) if abs(a - delta * b) >= observed)
        if self.exact:
            return extreme / len(self._a)
        return (1 + extreme) / (1 + len(self._a))  # the observed pattern counts once

    def interval(self, *, alpha: float = ALPHA, span: float = 1.0) -> Interval | None:
        """The shifts in [-span, span] (values live there: a difference of proportions) not rejected."""
        estimate = self.estimate
        if estimate is None:
            return None

        def edge(outside: float) -> float:
            inside = estimate
            if self.p_value(outside) > alpha:
                return outside  # nothing in range is rejected on this side
            for _ in range(40):
                middle = (inside + outside) / 2
                if self.p_value(middle) > alpha:
                    inside = middle
                else:
                    outside = middle
            return inside

        return (edge(-span), edge(span))


def cluster_swap_p_value(
    clusters: Sequence[Sequence[float]],
    statistic: Statistic,
    *,
    n_perm: int = 2000,
    seed: int = 0,
) -> float | None:
    """Two-sided permutation p-value for a statistic of both runs' totals, swapping A and B per question.

    ``clusters`` hold per-question totals (num A, den A, num B, den B); a swap exchanges a
    question's A and B columns. For ratios whose denominators differ between the runs (acc*:
    correct over answered), where a sign flip of one difference is not defined.
    """
    if not clusters:
        return None
    rows = [[float(v) for v in c] for c in clusters]
    totals = [sum(r[i] for r in rows) for i in range(4)]
    observed = statistic(totals)
    if observed is None:
        return None
    patterns, exact = _sign_patterns(len(rows), n_perm, seed)
    # A swap moves (B - A) of each column pair from one side to the other.
    shift = [(r[2] - r[0], r[3] - r[1]) for r in rows]
    extreme = used = 0
    for pattern in patterns:
        num_a, den_a, num_b, den_b = totals
        for sign, (dn, dd) in zip(pattern, shift, strict=True):
            if sign < 0:
                num_a, den_a, num_b, den_b = num_a + dn, den_a + dd, num_b - dn, den_b - dd
        value = statistic([num_a, den_a, num_b, den_b])
        if value is None:
            continue
        used += 1
        extreme += abs(value) >= abs(observed) - 1e-12
    if not used:
        return None
    return extreme / used if exact else (1 + extreme) / (1 + used)


def holm_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None), as statsmodels' ``multipletests(method="holm")``.

    Controls the family-wise error rate over the per-domain tests without assuming independence.
    """
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted
