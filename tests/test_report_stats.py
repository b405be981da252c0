"""The report's statistics and rules: McNemar's exact test, the paired bootstrap, gaps, weakest groups."""

from __future__ import annotations

import math

import pytest

from cvalues.report.breakdowns import Breakdown, GroupStat, weakest_groups
from cvalues.report.compare import SIGN_FLIP, compare_values
from cvalues.report.formatting import fmt_cell, truncate
from cvalues.report.gap import GAP_THRESHOLD, GapPoint, to_unit_scale
from cvalues.report.paired_stats import excludes_zero, mcnemar_exact, paired_cluster_bootstrap
from cvalues.report.svg_charts import Bar, interval_bars


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == 2 / 64  # both tails of Binomial(6, 1/2) at 0
    assert mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 1024)  # 0.021484375
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(5, 5) == 1.0  # capped
    assert mcnemar_exact(3, 5) == pytest.approx(2 * sum(math.comb(8, k) for k in range(4)) / 256)
    # thousands of discordant items: exact integers, no underflow
    assert 0 < mcnemar_exact(900, 1100) < 1e-5
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_paired_bootstrap_of_identical_runs_is_exactly_zero() -> None:
    clusters = [[2.0, 1.0, 1.0], [2.0, 2.0, 2.0], [2.0, 0.0, 0.0]] * 10
    ci = paired_cluster_bootstrap(clusters, lambda s: (s[2] - s[1]) / s[0], n_boot=500, seed=3)
    assert ci == (0.0, 0.0) and not excludes_zero(ci)


def test_paired_bootstrap_is_deterministic_and_finds_a_shift() -> None:
    clusters = [[1.0, 1.0, 0.0]] * 20 + [[1.0, 1.0, 1.0]] * 20
    stat = lambda s: (s[2] - s[1]) / s[0]  # noqa: E731
    first = paired_cluster_bootstrap(clusters, stat, n_boot=400, seed=1)
    assert first == paired_cluster_bootstrap(clusters, stat, n_boot=400, seed=1)
    assert first is not None and first[1] < 0 and excludes_zero(first)
    assert paired_cluster_bootstrap([], stat) is None


def test_compare_values_uses_the_sign_flip_test_for_binary_values_and_scores() -> None:
    binary = [(f"q{i}", "law", 1.0, 0.0 if i < 8 else 1.0) for i in range(30)]
    m = compare_values("acc", binary, n_boot=2000, seed=0)
    # 8 questions differ, all one way: the exact sign-flip p is 2 / 2**8; 2,000 random flips near it.
    assert m.test == SIGN_FLIP and m.p_value == pytest.approx(2 / 256, abs=0.006) and m.significant
    assert m.detail == "30 questions; A higher on 8 item(s), B higher on 0"
    assert m.diff == pytest.approx(-8 / 30)
    assert m.ci is not None and m.ci[1] < 0
    scores = [(f"q{i}", "law", 7.0, 7.5) for i in range(30)]
    s = compare_values("responsibility_score", scores, n_boot=300, seed=0)
    assert s.test == SIGN_FLIP and s.p_value is not None and s.p_value < 0.01
    assert s.ci == pytest.approx((0.5, 0.5), abs=1e-6) and s.significant


def test_gap_flag_needs_the_threshold_and_separate_intervals() -> None:
    apart = GapPoint("m", "L1", 0.9, (0.85, 0.95), 0.6, (0.5, 0.7), 0.6)
    assert apart.flagged and apart.gap == pytest.approx(0.3)
    overlapping = GapPoint("m", "L1", 0.9, (0.6, 0.99), 0.6, (0.4, 0.8), 0.6)
    assert not overlapping.flagged
    small = GapPoint("m", "L1", 0.65, (0.64, 0.66), 0.6, (0.59, 0.61), 0.6)
    assert small.gap < GAP_THRESHOLD and not small.flagged
    assert (
        to_unit_scale("responsibility_score", 10.0) == 1.0
        and to_unit_scale("responsibility_score", 1.0) == 0.0
    )
    assert to_unit_scale("safety_score", 0.42) == 0.42


def test_weakest_groups_respect_min_n_and_mark_groups_below_overall() -> None:
    groups = (
        GroupStat("law", 0.30, (0.20, 0.40), 50),
        GroupStat("psychology", 0.10, (0.0, 0.3), 5),  # too few items
        GroupStat("social_science", 0.70, (0.6, 0.8), 40),
        GroupStat("barrier_free", 0.55, (0.45, 0.65), 30),
    )
    b = Breakdown("m", "L2 MC acc", "domain", "r", 0.55, groups)
    weakest = weakest_groups([b], min_n=10, k=2)
    assert [w.group.group for w in weakest] == ["law", "barrier_free"]
    assert weakest[0].below_overall and not weakest[1].below_overall
    assert weakest_groups([Breakdown("m", "x", "difficulty", "r", 0.5, groups)]) == []


def test_missing_is_a_dash_and_long_output_is_cut() -> None:
    assert fmt_cell(None, None, "percent") == "—"
    assert fmt_cell(0.0, [0.0, 0.1], "percent") == "0.0% [0.0, 10.0]"
    assert truncate("长" * 10, 4) == "长长长长… [6 more characters]"


def test_svg_escapes_labels() -> None:
    svg = interval_bars("t", [Bar('<img src=x onerror="alert(1)">', 0.5, (0.4, 0.6))])
    assert "<img" not in svg and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in svg
