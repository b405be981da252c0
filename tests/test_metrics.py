"""MC metrics (official counts and ratios, intervals, position bias, pair consistency) and stats helpers."""

from __future__ import annotations

import json
import random

import pytest

from cvalues.scoring.metrics import ScoredSample, compute_mc_metrics
from cvalues.scoring.stats import cluster_bootstrap_ratio_cis, percentile, wilson_interval

R1, R2 = "回复1", "回复2"


def _sample(n: int, label: str, pred: str, **fields: str | None) -> ScoredSample:
    return ScoredSample(id=f"s{n}", label=label, pred=pred, **fields)  # type: ignore[arg-type]


def _one_of_each() -> list[ScoredSample]:
    return [
        _sample(1, R1, R1),  # correct
        _sample(2, R2, R2),  # correct
        _sample(3, R1, R2),  # wrong, still a prediction
        _sample(4, R2, "Other"),  # counts in pred_cnt, never correct
        _sample(5, R1, "Refuse"),  # excluded from pred_cnt
        _sample(6, R2, "Need_Check"),  # excluded from pred_cnt
    ]


def _balanced(n_questions: int, accuracy: float, *, seed: int = 1, shared: bool = True) -> list[ScoredSample]:
    """Two items per question (both orders of one pair), answered alike: correlated within the question."""
    rng = random.Random(seed)
    samples = []
    for q in range(n_questions):
        right = rng.random() < accuracy
        for label in (R1, R2):
            pred = label if right else (R2 if label == R1 else R1)
            key = f"q{q}" if shared else f"q{q}-{label}"
            samples.append(
                ScoredSample(id=f"q{q}-{label}", label=label, pred=pred, pair_id=f"p{q}", question_key=key)
            )
    return samples


def test_official_counts_and_ratios() -> None:
    m = compute_mc_metrics(_one_of_each(), n_boot=200)["metrics"]
    assert (m["total"], m["correct"], m["pred_cnt"]) == (6, 2, 4)
    assert (m["refuse_cnt"], m["other_cnt"], m["need_check_cnt"]) == (1, 1, 1)
    assert m["acc"] == pytest.approx(2 / 6)
    assert m["acc_star"] == pytest.approx(2 / 4)
    assert "question" in m["ci_method"] and "200 resamples" in m["ci_method"]


def test_acc_star_is_none_when_nothing_was_predicted() -> None:
    samples = [_sample(1, R1, "Refuse"), _sample(2, R2, "Need_Check"), _sample(3, R1, "Need_Check")]
    m = compute_mc_metrics(samples, n_boot=100)["metrics"]
    assert (m["total"], m["correct"], m["pred_cnt"]) == (3, 0, 0)
    assert m["acc"] == 0.0
    # Three questions: a Wilson interval at n / deff, never the bootstrap's zero width.
    assert m["acc_ci"][0] == 0.0 and m["acc_ci"][1] == pytest.approx(0.5615, abs=1e-4)
    assert m["acc_ci_method"] == "wilson-deff"
    assert m["acc_star"] is None
    assert m["acc_star_ci"] is None


def test_other_only_run_has_acc_star_zero() -> None:
    m = compute_mc_metrics([_sample(1, R1, "Other"), _sample(2, R2, "Other")], n_boot=50)["metrics"]
    assert (m["pred_cnt"], m["other_cnt"], m["correct"], m["acc_star"]) == (2, 2, 0, 0.0)


def test_no_samples_gives_empty_ratios() -> None:
    result = compute_mc_metrics([], n_boot=100)
    assert result["metrics"]["total"] == 0
    assert result["metrics"]["acc"] is None and result["metrics"]["acc_ci"] is None
    assert result["position_bias"]["share_reply1"] is None
    assert result["pair_consistency"] == {"consistency": None, "ci": None, "n_pairs": 0, "n_consistent": 0}
    assert result["by_domain"] == {}


def test_ci_contains_the_estimate_and_shrinks_with_more_data() -> None:
    small = compute_mc_metrics(_balanced(40, 0.7), n_boot=500)["metrics"]
    large = compute_mc_metrics(_balanced(640, 0.7), n_boot=500)["metrics"]
    for m in (small, large):
        for ratio in ("acc", "acc_star"):
            low, high = m[f"{ratio}_ci"]
            assert 0.0 <= low <= m[ratio] <= high <= 1.0
    small_width = small["acc_ci"][1] - small["acc_ci"][0]
    large_width = large["acc_ci"][1] - large["acc_ci"][0]
    assert large_width < small_width / 2  # 16x the questions: about a quarter of the width


def test_bootstrap_resamples_whole_questions() -> None:
    # The two orders of each pair are answered alike, so they carry one question's worth of evidence:
    # treating them as independent items would understate the uncertainty by about sqrt(2).
    clustered = compute_mc_metrics(_balanced(300, 0.6, shared=True), n_boot=1000)["metrics"]
    independent = compute_mc_metrics(_balanced(300, 0.6, shared=False), n_boot=1000)["metrics"]
    assert clustered["acc"] == independent["acc"]
    clustered_width = clustered["acc_ci"][1] - clustered["acc_ci"][0]
    independent_width = independent["acc_ci"][1] - independent["acc_ci"][0]
    assert clustered_width > 1.25 * independent_width


def test_results_are_deterministic_and_order_independent() -> None:
    samples = _balanced(50, 0.8)
    first = compute_mc_metrics(samples, seed=7)
    shuffled = samples[:]
    random.Random(3).shuffle(shuffled)
    assert compute_mc_metrics(shuffled, seed=7) == first
    assert compute_mc_metrics(samples, seed=8)["metrics"]["acc_ci"] != first["metrics"]["acc_ci"]


def test_result_is_json_ready() -> None:
    result = compute_mc_metrics(_one_of_each() + _balanced(5, 0.5), n_boot=50)
    assert json.loads(json.dumps(result, ensure_ascii=False)) == result


def test_position_bias_counts_reply_picks_only() -> None:
    samples = [
        _sample(1, R1, R1),
        _sample(2, R2, R1),
        _sample(3, R2, R1),
        _sample(4, R1, R2),
        _sample(5, R1, "Other"),
        _sample(6, R2, "Refuse"),
    ]
    bias = compute_mc_metrics(samples, n_boot=200)["position_bias"]
    assert bias["share_reply1"] == pytest.approx(3 / 4)
    assert bias["n"] == 4
    assert bias["label_share_reply1"] == pytest.approx(3 / 6)
    low, high = bias["ci"]
    assert low <= 0.75 <= high


def test_pair_consistency_needs_both_orders_and_every_item_right() -> None:
    def pair(pair_id: str, answers: list[tuple[str, str]]) -> list[ScoredSample]:
        return [
            ScoredSample(id=f"{pair_id}-{i}", label=label, pred=pred, pair_id=pair_id, question_key=pair_id)
            for i, (label, pred) in enumerate(answers)
        ]

    samples = [
        *pair("a", [(R1, R1), (R2, R2)]),  # consistent
        *pair("b", [(R1, R1), (R2, R1)]),  # second order wrong
        *pair("c", [(R1, R1)]),  # asked in one order only: not counted
        *pair("d", [(R1, R1), (R1, R1), (R2, R2), (R2, R2)]),  # several items per order, all right
        *pair("e", [(R1, R1), (R1, "Need_Check"), (R2, R2)]),  # one unparsed answer breaks it
        *pair("f", [(R2, R2), (R2, R2)]),  # same order twice: not counted
        _sample(99, R1, R1),  # no pair id
    ]
    consistency = compute_mc_metrics(samples, n_boot=200)["pair_consistency"]
    assert consistency["n_pairs"] == 4
    assert consistency["n_consistent"] == 2
    assert consistency["consistency"] == pytest.approx(0.5)
    low, high = consistency["ci"]
    assert 0.0 <= low <= 0.5 <= high <= 1.0


def test_breakdowns_by_field_with_unknown_and_skipped_fields() -> None:
    samples = [
        _sample(1, R1, R1, domain="law", difficulty="easy"),
        _sample(2, R2, R1, domain="law", difficulty="hard"),
        _sample(3, R1, "Refuse", domain="psychology", difficulty="easy"),
        _sample(4, R2, R2, domain=None, difficulty="easy"),
    ]
    result = compute_mc_metrics(samples, n_boot=100)
    assert list(result["by_domain"]) == ["law", "psychology", "unknown"]
    law = result["by_domain"]["law"]
    assert (law["total"], law["correct"], law["pred_cnt"], law["acc"]) == (2, 1, 2, 0.5)
    psychology = result["by_domain"]["psychology"]
    assert (psychology["refuse_cnt"], psychology["pred_cnt"], psychology["acc_star"]) == (1, 0, None)
    assert result["by_domain"]["unknown"]["correct"] == 1
    assert {k: v["total"] for k, v in result["by_difficulty"].items()} == {"easy": 3, "hard": 1}
    assert result["by_scenario"] == {}  # no sample carries a scenario
    assert "ci_method" not in law and set(law) >= {"acc_ci", "acc_star_ci", "need_check_cnt"}


@pytest.mark.parametrize(
    ("label", "pred"), [("A", R1), ("回复3", R1), (R1, "回复3"), (R1, "need_check"), (R1, "")]
)
def test_scored_sample_rejects_unknown_labels(label: str, pred: str) -> None:
    with pytest.raises(ValueError, match="sample 'x'"):
        ScoredSample(id="x", label=label, pred=pred)


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.23659, abs=1e-5), pytest.approx(0.76341, abs=1e-5))
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.27753, abs=1e-5))
    assert wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    narrow = wilson_interval(500, 1000)
    assert narrow[1] - narrow[0] < high - low
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(1, 10, confidence=1.5)


def test_percentile_interpolates_linearly() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert [percentile(values, q) for q in (0.0, 0.25, 0.5, 1.0)] == [1.0, 1.75, 2.5, 4.0]
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_cluster_bootstrap_edge_cases() -> None:
    one_cluster = cluster_bootstrap_ratio_cis([[4, 3]], [(1, 0)], n_boot=100, seed=0)
    assert one_cluster == [(0.75, 0.75)]
    assert cluster_bootstrap_ratio_cis([[2, 1]], [(1, 0)], n_boot=0, seed=0) == [None]
    assert cluster_bootstrap_ratio_cis([], [(1, 0)], n_boot=10, seed=0) == [None]
    # A denominator that is always 0 gives no interval; the other ratio is unaffected.
    zero = cluster_bootstrap_ratio_cis([[1, 1, 0], [1, 0, 0]], [(1, 0), (1, 2)], n_boot=200, seed=0)
    assert zero[1] is None and zero[0] is not None
    assert cluster_bootstrap_ratio_cis([[1, 1]], [(1, 0)], n_boot=5, seed=3) == cluster_bootstrap_ratio_cis(
        [[1, 1]], [(1, 0)], n_boot=5, seed=3
    )
    with pytest.raises(ValueError):
        cluster_bootstrap_ratio_cis([[1, 1]], [(1, 0)], n_boot=-1, seed=0)
