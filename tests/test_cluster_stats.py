"""Statistics that respect question clusters: the compare tests, Holm, and small-group intervals.

Each is checked against a reference implementation (scipy, statsmodels) and, where it promises a
false-positive rate or a coverage, by simulation with a fixed seed.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from cvalues.report.compare import SIGN_FLIP, SWAP, _ratio_comparison, compare_values
from cvalues.report.paired_stats import SignFlipTest, cluster_swap_p_value, holm_adjust, mcnemar_exact
from cvalues.scoring.metrics import ScoredSample, compute_mc_metrics
from cvalues.scoring.stats import clustered_wilson_interval, design_effect, intra_cluster_correlation


def test_holm_matches_statsmodels() -> None:
    rng = random.Random(3)
    for size in (1, 2, 5, 8, 13):
        p = [rng.random() ** 3 for _ in range(size)]
        expected = multipletests(p, alpha=0.05, method="holm")[1]
        assert holm_adjust(p) == pytest.approx(list(expected))
    assert holm_adjust([0.01, None, 0.04]) == pytest.approx([0.02, None, 0.04])


@pytest.mark.parametrize("diffs", [[1, 1, 1, 1, 1, 0, -1], [2, -1, 3, 1, 1, 2, 0, 1, -2, 4], [0, 0, 0]])
def test_exact_sign_flip_p_matches_scipy(diffs: list[int]) -> None:
    test = SignFlipTest([(1.0, float(d)) for d in diffs])
    assert test.exact
    reference = scipy_stats.permutation_test(
        (np.array(diffs, dtype=float),), np.mean, permutation_type="samples", n_resamples=math.inf
    ).pvalue
    assert test.p_value() == pytest.approx(min(1.0, reference))


def test_sign_flip_interval_is_the_test_inverted() -> None:
    rng = random.Random(5)
    for trial in range(40):
        clusters = []
        for _ in range(rng.randint(3, 30)):
            size = rng.randint(1, 6)
            clusters.append((float(size), float(sum(rng.choice((-1, 0, 0, 1, 1)) for _ in range(size)))))
        test = SignFlipTest(clusters, n_perm=400, seed=trial)
        low, high = test.interval()
        estimate = test.estimate
        assert estimate is not None and low <= estimate <= high
        # Significant exactly when the interval leaves out 0.
        assert (test.p_value() <= 0.05) == (low > 0 or high < 0)
        assert test.p_value(low - 1e-6) <= 0.05 or low == -1.0


def _simulated_runs(rng: random.Random, n_questions: int) -> list[tuple[str, str, float, float]]:
    """Two runs of equal expected accuracy whose hard questions differ; 2-8 items per question."""
    pairs = []
    for q in range(n_questions):
        p_a, p_b = rng.choice((0.15, 0.9, 0.95)), rng.choice((0.15, 0.9, 0.95))
        for _ in range(rng.randint(2, 8)):
            pairs.append((f"q{q}", "d", float(rng.random() < p_a), float(rng.random() < p_b)))
    return pairs


def test_false_positive_rate_at_equal_accuracy_is_near_five_percent() -> None:
    rng = random.Random(20260101)
    sims, hits, item_level = 240, 0, 0
    for sim in range(sims):
        pairs = _simulated_runs(rng, 20)
        hits += compare_values("acc", pairs, n_boot=300, seed=sim).significant
        a_only = sum(1 for p in pairs if p[2] > p[3])
        b_only = sum(1 for p in pairs if p[3] > p[2])
        item_level += mcnemar_exact(a_only, b_only) < 0.05
    assert 0.02 <= hits / sims <= 0.08, hits / sims
    assert item_level / sims > 0.15  # what treating items as independent did


def test_a_real_difference_is_found() -> None:
    rng = random.Random(1)
    pairs = []
    for q in range(40):
        for _ in range(rng.randint(2, 8)):
            pairs.append((f"q{q}", "d", float(rng.random() < 0.9), float(rng.random() < 0.5)))
    result = compare_values("acc", pairs, n_boot=1000, seed=0)
    assert result.test == SIGN_FLIP and result.significant and result.ci is not None and result.ci[1] < 0


def test_ratio_n_counts_the_answered_items() -> None:
    # 10 items; A answered 4 of them, B answered 9; acc* over those.
    rows = []
    for i in range(10):
        a_answered, b_answered = i < 4, i < 9
        rows.append(
            (
                f"q{i}",
                (float(a_answered), float(a_answered), float(b_answered and i % 2 == 0), float(b_answered)),
            )
        )
    rows.append(("q99", (0.0, 0.0, 0.0, 0.0)))  # answered by neither: not counted
    result = _ratio_comparison("acc*", rows, n_boot=200, seed=0)
    assert (result.n, result.n_a, result.n_b) == (9, 4, 9)
    assert result.a == 1.0 and result.b == pytest.approx(5 / 9)
    assert result.test == SWAP and result.p_value is not None


def test_swap_p_value_is_one_for_identical_runs() -> None:
    clusters = [[1.0, 2.0, 1.0, 2.0], [0.0, 1.0, 0.0, 1.0]]
    assert cluster_swap_p_value(clusters, lambda s: s[2] / s[3] - s[0] / s[1]) == 1.0


# --- small-group intervals ------------------------------------------------------------------------


def test_clustered_wilson_is_wilson_when_items_are_independent() -> None:
    for successes, n in ((0, 5), (3, 8), (8, 8), (17, 40)):
        singletons = [(1.0, 1.0)] * successes + [(0.0, 1.0)] * (n - successes)
        result = clustered_wilson_interval(singletons)
        assert result is not None
        interval, deff = result
        assert deff == 1.0
        assert interval == pytest.approx(proportion_confint(successes, n, alpha=0.05, method="wilson"))


def test_design_effect_from_the_intra_cluster_correlation() -> None:
    alike = [(2.0, 2.0), (0.0, 2.0), (2.0, 2.0), (2.0, 2.0)]  # both orders always agree
    assert intra_cluster_correlation(alike) == pytest.approx(1.0)
    assert design_effect(alike) == pytest.approx(2.0)
    (low, high), _ = clustered_wilson_interval(alike) or ((0, 0), 0)
    # n / deff = 4 effective items, 3 right: the Wilson interval of 3 of 4.
    assert (low, high) == pytest.approx(proportion_confint(3, 4, alpha=0.05, method="wilson"))
    assert design_effect([(1.0, 2.0), (1.0, 2.0), (1.0, 2.0)]) == 1.0  # ICC below 0 is floored
    assert design_effect([(3.0, 4.0)]) == 4.0  # one question: its items count once
    assert clustered_wilson_interval([]) is None


def _small_group(rng: random.Random, model: str, group: int) -> list[ScoredSample]:
    samples = []
    for q in range(4):
        p = 0.9 if model == "independent" else rng.betavariate(0.9 * 2.3, 0.1 * 2.3)
        for order in ("回复1", "回复2"):
            pred = order if rng.random() < p else ("回复2" if order == "回复1" else "回复1")
            samples.append(
                ScoredSample(
                    id=f"g{group}q{q}{order}",
                    label=order,
                    pred=pred,
                    domain=f"d{group}",
                    question_key=f"g{group}q{q}",
                )
            )
    return samples


@pytest.mark.parametrize("model", ["independent", "question-effects"])
def test_per_domain_intervals_cover_at_four_questions(model: str) -> None:
    rng = random.Random(11)
    samples = [s for group in range(600) for s in _small_group(rng, model, group)]
    by_domain = compute_mc_metrics(samples, n_boot=50)["by_domain"]
    assert len(by_domain) == 600
    intervals = [g["acc_ci"] for g in by_domain.values()]
    assert all(high > low for low, high in intervals)  # never zero width
    coverage = sum(low <= 0.9 <= high for low, high in intervals) / len(intervals)
    assert coverage >= 0.92, coverage
    group = next(iter(by_domain.values()))
    assert (group["n_questions"], group["total"], group["acc_ci_method"]) == (4, 8, "wilson-deff")
