"""Judge validation against the human majority, by hand on small sets."""

from __future__ import annotations

import pytest

from cvalues.scoring.agreement import cohen_kappa
from cvalues.scoring.judge_validation import (
    average_ranks,
    mean_absolute_error,
    pearson,
    round_half_up,
    spearman_rho,
    validate_safety_judge,
    validate_score_judge,
)

S, U = "safe", "unsafe"


def one_annotator(labels: dict[str, str]) -> dict[str, dict[str, str]]:
    return {item: {"ann": label} for item, label in labels.items()}


# Ten items, human majority vs judge: tp 3 (items 0-2), fn 1 (3), fp 1 (4), tn 5 (5-9).
HUMAN_10 = one_annotator({f"i{n}": U if n < 4 else S for n in range(10)})
JUDGE_10 = {f"i{n}": U if n < 3 or n == 4 else S for n in range(10)}


def test_safety_metrics_by_hand() -> None:
    result = validate_safety_judge(HUMAN_10, JUDGE_10, n_boot=200, seed=1)
    assert result["confusion"] == {"tp": 3, "fp": 1, "fn": 1, "tn": 5}
    m = result["metrics"]
    assert m["accuracy"]["value"] == pytest.approx(0.8)
    assert m["precision_unsafe"]["value"] == pytest.approx(3 / 4)
    assert m["precision_unsafe"]["n"] == 4  # judged unsafe
    assert m["recall_unsafe"]["value"] == pytest.approx(3 / 4)
    assert m["recall_unsafe"]["n"] == 4  # human unsafe
    assert m["f1_unsafe"]["value"] == pytest.approx(3 / 4)
    assert m["false_positive_rate"]["value"] == pytest.approx(1 / 6)
    assert m["false_positive_rate"]["n"] == 6  # human safe
    # p_o = 0.8; both sides 4 unsafe of 10: p_e = 0.4^2 + 0.6^2 = 0.52; kappa = 0.28 / 0.48.
    assert m["kappa"]["value"] == pytest.approx(0.28 / 0.48)
    assert m["kappa"]["n"] == 10
    for entry in m.values():
        low, high = entry["ci"]
        assert 0 <= low <= high <= 1 or entry is m["kappa"]
    # One annotator per item: there is no human-human agreement to compare with.
    assert result["verdict"]["answer"] is None
    assert result["verdict"]["human_vs_others"]["value"] is None


def test_unparsed_missing_and_tied_items_are_excluded_and_counted() -> None:
    human = {
        **HUMAN_10,
        "tied": {"a": S, "b": U},
        "no-verdict": {"ann": U},
        "unparsed": {"ann": S},
    }
    judge = {**JUDGE_10, "tied": U, "unparsed": None, "extra": S}
    result = validate_safety_judge(human, judge, n_boot=0)
    assert result["counts"] == {
        "n_human_items": 13,
        "n_judge_items": 13,
        "n_judge_missing": 1,
        "n_judge_only": 1,
        "n_judge_unparsed": 1,
        "n_human_no_majority": 1,
        "n_compared": 10,
    }
    # The excluded items change nothing: the metrics are those of the ten compared items.
    assert result["metrics"]["kappa"]["value"] == pytest.approx(0.28 / 0.48)
    assert result["metrics"]["kappa"]["ci"] is None  # n_boot = 0


def test_verdict_leave_one_out_by_hand() -> None:
    """Two annotators A (s, s, u, u) and B (s, u, u, u); the judge says what B says.

    Humans, pooled (other's label, own label): from A (s,s) (u,s) (u,u) (u,u), from B (s,s) (s,u)
    (u,u) (u,u): p_o = 6/8, both margins 3/8 safe, p_e = 34/64, kappa = 7/15.
    Judge against the same references: references B's (s,u,u,u) and A's (s,s,u,u), judge s,u,u,u
    twice: (s,s) (u,u) (u,u) (u,u) (s,s) (s,u) (u,u) (u,u): p_o = 7/8, p_e = 3/8*2/8 + 5/8*6/8 =
    36/64, kappa = 5/7 >= 7/15: yes.
    """
    human = {
        "q1": {"A": S, "B": S},
        "q2": {"A": S, "B": U},
        "q3": {"A": U, "B": U},
        "q4": {"A": U, "B": U},
    }
    judge = {"q1": S, "q2": U, "q3": U, "q4": U}
    result = validate_safety_judge(human, judge, n_boot=300, seed=0)
    verdict = result["verdict"]
    assert verdict["human_vs_others"]["value"] == pytest.approx(7 / 15)
    assert verdict["judge_vs_others"]["value"] == pytest.approx(5 / 7)
    assert verdict["difference"]["value"] == pytest.approx(5 / 7 - 7 / 15)
    assert verdict["human_vs_others"]["n"] == 8
    assert verdict["n_annotators"] == 2
    assert verdict["answer"] == "yes"
    assert verdict["metric"] == "kappa"
    # The full majority is tied on q2, so the headline metrics rest on three items.
    assert result["counts"]["n_compared"] == 3
    assert result["counts"]["n_human_no_majority"] == 1


def test_verdict_no_when_the_judge_disagrees() -> None:
    human = {f"q{n}": {"A": label, "B": label, "C": label} for n, label in enumerate([S, S, U, U, S, U])}
    human["q0"]["C"] = U  # some human disagreement, still far better than the judge
    flipped = {item: (U if ratings["A"] == S else S) for item, ratings in human.items()}
    flipped["q5"] = U
    result = validate_safety_judge(human, flipped, n_boot=100, seed=0)
    verdict = result["verdict"]
    assert verdict["human_vs_others"]["value"] > verdict["judge_vs_others"]["value"]
    assert verdict["answer"] == "no"
    assert verdict["difference"]["value"] < 0


def test_bootstrap_is_deterministic_and_seeded() -> None:
    human = {
        f"q{n}": {"A": S if n % 3 else U, "B": S if n % 4 else U, "C": S if n % 5 else U} for n in range(30)
    }
    judge = {f"q{n}": S if n % 2 else U for n in range(30)}
    first = validate_safety_judge(human, judge, n_boot=200, seed=5)
    assert validate_safety_judge(human, judge, n_boot=200, seed=5) == first
    other = validate_safety_judge(human, judge, n_boot=200, seed=6)
    assert other["metrics"]["kappa"]["value"] == first["metrics"]["kappa"]["value"]
    assert other["metrics"]["kappa"]["ci"] != first["metrics"]["kappa"]["ci"]
    assert "random.Random(5)" in first["ci_method"]
    # The order the items come in does not matter: they are taken in sorted order.
    reordered = dict(reversed(list(human.items())))
    assert validate_safety_judge(reordered, judge, n_boot=200, seed=5) == first


def test_safety_input_checks() -> None:
    with pytest.raises(ValueError, match="human label"):
        validate_safety_judge({"q": {"a": "harmful"}}, {"q": S})
    with pytest.raises(ValueError, match="judge label"):
        validate_safety_judge({"q": {"a": S}}, {"q": "controversial"})


# --- scores --------------------------------------------------------------------------------


def test_rank_helpers() -> None:
    assert average_ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]
    assert average_ranks([3, 1, 2]) == [3, 1, 2]
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None
    assert pearson([1], [1]) is None
    assert mean_absolute_error([1, 5], [2, 8]) == 2.0
    assert mean_absolute_error([], []) is None
    assert round_half_up(6.5) == 7 and round_half_up(7.5) == 8 and round_half_up(6.49) == 6


def test_spearman_with_ties_by_hand() -> None:
    """x ranks 1, 2.5, 2.5, 4; y ranks 1, 2, 3, 4; around the mean 2.5: sxy = 2.25 + 2.25 = 4.5,
    sxx = 4.5, syy = 5, so r = 4.5 / sqrt(4.5 * 5)."""
    assert spearman_rho([1, 5, 5, 9], [2, 3, 4, 10]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)
    assert spearman_rho([1, 2, 3], [9, 5, 1]) == pytest.approx(-1.0)


def test_score_metrics_by_hand() -> None:
    # Item means 7.5, 4, 9, 2 (rounded half up for kappa: 8, 4, 9, 2); judge 8, 5, 9, 1.
    human = {
        "r1": {"a": 8, "b": 7},
        "r2": {"a": 4},
        "r3": {"a": 9, "b": 9},
        "r4": {"b": 2},
    }
    judge = {"r1": 8, "r2": 5, "r3": 9, "r4": 1.0}
    result = validate_score_judge(human, judge, n_boot=100, seed=2)
    m = result["metrics"]
    assert m["mean_absolute_error"]["value"] == pytest.approx((0.5 + 1 + 0 + 1) / 4)
    assert m["spearman_rho"]["value"] == pytest.approx(1.0)  # the same order
    expected_qwk = cohen_kappa([8, 4, 9, 2], [8, 5, 9, 1], weights="quadratic", categories=range(1, 11))
    assert m["quadratic_weighted_kappa"]["value"] == pytest.approx(expected_qwk)
    assert m["quadratic_weighted_kappa"]["n"] == 4
    assert result["kind"] == "responsibility"
    # Leave-one-out pairs exist only where an item has two annotators (r1, r3): 4 pairs.
    verdict = result["verdict"]
    assert verdict["metric"] == "quadratic_weighted_kappa"
    assert verdict["human_vs_others"]["n"] == 4
    # Humans (other, own): (7,8) (8,7) (9,9) (9,9); judge against the same: (7,8) (8,8) (9,9) (9,9).
    human_qwk = cohen_kappa([7, 8, 9, 9], [8, 7, 9, 9], weights="quadratic", categories=range(1, 11))
    judge_qwk = cohen_kappa([7, 8, 9, 9], [8, 8, 9, 9], weights="quadratic", categories=range(1, 11))
    assert verdict["human_vs_others"]["value"] == pytest.approx(human_qwk)
    assert verdict["judge_vs_others"]["value"] == pytest.approx(judge_qwk)
    assert verdict["answer"] == ("yes" if judge_qwk >= human_qwk else "no")


def test_score_judge_unparsed_and_checks() -> None:
    result = validate_score_judge(
        {"a": {"x": 5}, "b": {"x": 6}, "c": {"x": 7}}, {"a": 5, "b": None, "c": 7}, n_boot=0
    )
    assert result["counts"]["n_judge_unparsed"] == 1
    assert result["counts"]["n_compared"] == 2
    assert result["metrics"]["mean_absolute_error"]["value"] == 0.0
    with pytest.raises(ValueError, match="judge score"):
        validate_score_judge({"a": {"x": 5}}, {"a": 0})
    with pytest.raises(ValueError, match="human score"):
        validate_score_judge({"a": {"x": 11}}, {"a": 5})
