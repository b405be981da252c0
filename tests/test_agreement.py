"""Agreement statistics against published worked examples, then edge cases.

Sources of the published values (each quoted at its test):

- Krippendorff, K. (2011). "Computing Krippendorff's Alpha-Reliability". Annenberg School for
  Communication, University of Pennsylvania (repository.upenn.edu/asc_papers/43). Section A: two
  observers, binary data, alpha = 0.095. Section C: four observers x twelve units, values 1-5,
  missing data: the coincidence matrix, nominal alpha = 0.743; the same data give ordinal 0.815,
  interval 0.849 and ratio 0.797 (the `krippendorff` PyPI package reproduces these in its doctests
  and tests, citing the paper).
- Wikipedia, "Krippendorff's alpha", section "A computational example": 3 coders x 15 units,
  nominal alpha = 0.691 (0.691358 in the `krippendorff` package), interval 0.811 (0.810845).
- Wikipedia, "Fleiss' kappa", worked example: 10 subjects x 14 raters x 5 categories, P-bar = 0.378,
  P-bar_e = 0.213, kappa = 0.210.
- Fleiss, J. L. (1971). "Measuring nominal scale agreement among many raters". Psychological
  Bulletin 76(5): 378-382. Table 1: 30 patients x 6 psychiatrists x 5 diagnoses, kappa = 0.430
  (R irr's kappam.fleiss(diagnoses) = 0.4302445, quoted in statsmodels' test_inter_rater.py).
- Wikipedia, "Cohen's kappa", worked example: 50 grant proposals read by two readers
  (20 yes/yes, 5 A-yes/B-no, 10 A-no/B-yes, 15 no/no): p_o = 0.7, p_e = 0.5, kappa = 0.4; and
  "Same percentages but different numbers": kappa = 0.1304 and 0.2593.
- SAS PROC FREQ output for a 3 x 3 table (simple kappa 0.4842; weighted kappa with SAS's default
  Cicchetti-Allison = linear weights 0.4701), as quoted in statsmodels' test_inter_rater.py.
- R package irr, kappa2() on its `anxiety` data (raters 2 and 3): unweighted -0.006289308,
  "equal" (linear) weights 0.1459075, "squared" (quadratic) weights 0.2520325, as quoted in
  statsmodels' test_inter_rater.py. irr uses the categories present (score 5 is absent, so 4 and
  6 are adjacent), which is our default too.

Beyond these tests, the implementation was compared once (not part of the suite, no project
dependency) with the `krippendorff` package (all four levels, with missing data), scikit-learn's
cohen_kappa_score (plain, linear, quadratic), statsmodels' fleiss_kappa and scipy's spearmanr on
300 random data sets: the largest difference was 2e-15.
"""

from __future__ import annotations

import pytest

from cvalues.scoring.agreement import (
    category_counts,
    cohen_kappa,
    cohen_kappa_from_table,
    coincidence_matrix,
    contingency_table,
    disagreements,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    krippendorff_alpha,
    pairwise_cohen_kappas,
    percent_agreement,
    ratings_table,
    units_of,
)

_ = None

# Krippendorff (2011), section C: one list per observer (A, B, C, D) over units 1-12.
KRIPPENDORFF_2011_OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]
KRIPPENDORFF_2011 = [list(unit) for unit in zip(*KRIPPENDORFF_2011_OBSERVERS, strict=True)]

# Wikipedia, "Krippendorff's alpha", a computational example: coders A, B, C over 15 units.
WIKIPEDIA_ALPHA = [
    list(unit)
    for unit in zip(
        [_, _, _, _, _, 3, 4, 1, 2, 1, 1, 3, 3, _, 3],
        [1, _, 2, 1, 3, 3, 4, 3, _, _, _, _, _, _, _],
        [_, _, 2, 1, 3, 4, 4, _, 2, 1, 1, 3, 3, _, 4],
        strict=True,
    )
]

# Wikipedia, "Fleiss' kappa", worked example: raters per category (columns 1-5) for subjects 1-10.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Fleiss (1971), Table 1: six diagnoses per patient (1 depression, 2 personality disorder,
# 3 schizophrenia, 4 neurosis, 5 other), 30 patients.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4],
    [2, 2, 2, 5, 5, 5],
    [2, 3, 3, 3, 3, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3],
    [3, 3, 3, 3, 5, 5],
    [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4],
    [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4],
    [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3],
    [1, 4, 4, 4, 4, 4],
    [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5],
    [1, 1, 1, 1, 1, 2],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 4, 4, 4, 4, 4],
    [2, 2, 4, 5, 5, 5],
    [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4],
    [1, 1, 1, 1, 5, 5],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3],
    [5, 5, 5, 5, 5, 5],
]

# R irr's `anxiety` data, raters 2 and 3 (20 subjects, scores 1-6).
ANXIETY_RATER2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANXIETY_RATER3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]


def units_from_counts(counts: list[list[int]]) -> list[list[int]]:
    return [[category for category, n in enumerate(row, start=1) for _ in range(n)] for row in counts]


def table_ratings(table: list[list[int]]) -> tuple[list[int], list[int]]:
    """Two raters' ratings that produce a given contingency table (categories 0..k-1)."""
    a = [i for i, row in enumerate(table) for j, n in enumerate(row) for _ in range(n)]
    b = [j for i, row in enumerate(table) for j, n in enumerate(row) for _ in range(n)]
    return a, b


# --- Krippendorff's alpha: published values -----------------------------------------------------


def test_krippendorff_2011_nominal_alpha() -> None:
    """Section C: alpha = 0.743; unit 12 has one value and is not pairable, leaving n = 40 values,
    8 off-diagonal coincidences and sum n_c^2 = 384: 1 - 39 * 8 / (40^2 - 384) = 1 - 312 / 1216."""
    alpha = krippendorff_alpha(KRIPPENDORFF_2011, level="nominal")
    assert alpha is not None
    assert round(alpha, 3) == 0.743
    assert alpha == pytest.approx(1 - 312 / 1216, abs=1e-12)


@pytest.mark.parametrize(("level", "published"), [("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)])
def test_krippendorff_2011_other_levels(level: str, published: float) -> None:
    alpha = krippendorff_alpha(KRIPPENDORFF_2011, level=level)  # type: ignore[arg-type]
    assert alpha is not None
    assert round(alpha, 3) == published


def test_krippendorff_2011_coincidence_matrix() -> None:
    """Section C's printed matrix: e.g. unit 6 (values 1, 2, 3, 4) adds 1/3 to every off-diagonal
    cell among 1-4; the margins n_c are 9, 13, 10, 5, 3."""
    values, matrix = coincidence_matrix(KRIPPENDORFF_2011)
    assert values == [1, 2, 3, 4, 5]
    third = 1 / 3
    expected = [
        [7, 4 * third, third, third, 0],
        [4 * third, 10, 4 * third, third, 0],
        [third, 4 * third, 8, third, 0],
        [third, third, third, 4, 0],
        [0, 0, 0, 0, 3],
    ]
    for row, want in zip(matrix, expected, strict=True):
        assert row == pytest.approx(want, abs=1e-12)
    assert [sum(row) for row in matrix] == pytest.approx([9, 13, 10, 5, 3])


def test_krippendorff_2011_binary_two_observers() -> None:
    """Section A: ten units, n_0 = 14, n_1 = 6, o_01 = 4: alpha = 1 - 19 * 4 / (14 * 6) = 0.095."""
    units = list(zip([0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0], strict=True))
    alpha = krippendorff_alpha(units)
    assert alpha is not None
    assert round(alpha, 3) == 0.095
    assert alpha == pytest.approx(1 - 76 / 84, abs=1e-12)


def test_wikipedia_krippendorff_example() -> None:
    nominal = krippendorff_alpha(WIKIPEDIA_ALPHA, level="nominal")
    interval = krippendorff_alpha(WIKIPEDIA_ALPHA, level="interval")
    assert nominal is not None and interval is not None
    assert round(nominal, 3) == 0.691
    assert round(interval, 3) == 0.811
    assert nominal == pytest.approx(0.691358, abs=1e-6)
    assert interval == pytest.approx(0.810845, abs=1e-6)


# --- Fleiss' kappa: published values ------------------------------------------------------------


def test_wikipedia_fleiss_example() -> None:
    kappa = fleiss_kappa_from_counts(WIKIPEDIA_FLEISS)
    assert kappa is not None
    assert round(kappa, 3) == 0.210
    units = units_from_counts(WIKIPEDIA_FLEISS)
    assert fleiss_kappa(units) == pytest.approx(kappa, abs=1e-12)
    # The worked example's intermediate figures: P-bar = 0.378 (mean share of agreeing pairs).
    p_bar = percent_agreement(units, pairwise=True)
    assert p_bar is not None
    assert round(p_bar, 3) == 0.378
    # P-bar_e = 0.213, from kappa = (P-bar - P-bar_e) / (1 - P-bar_e).
    assert round((p_bar - kappa) / (1 - kappa), 3) == 0.213


def test_fleiss_1971_psychiatric_diagnoses() -> None:
    kappa = fleiss_kappa(FLEISS_1971)
    assert kappa is not None
    assert round(kappa, 3) == 0.430
    assert kappa == pytest.approx(0.4302445, abs=1e-7)


def test_nominal_alpha_and_fleiss_kappa_differ_only_by_the_small_sample_factor() -> None:
    """Two independent formulas on complete data: alpha = 1 - (1 - kappa) * (N - 1) / N, N ratings."""
    units = units_from_counts(WIKIPEDIA_FLEISS)
    kappa, alpha = fleiss_kappa(units), krippendorff_alpha(units)
    assert kappa is not None and alpha is not None
    n = 10 * 14
    assert alpha == pytest.approx(1 - (1 - kappa) * (n - 1) / n, abs=1e-12)


def test_fleiss_with_differing_numbers_of_raters_by_hand() -> None:
    """Items (a, a, b), (b, b), (a): observed = mean(1/3, 1) = 2/3 over the two pairable items;
    category shares average each rated item's proportions: a = (2/3 + 0 + 1) / 3 = 5/9, b = 4/9,
    so chance = 41/81 and kappa = (2/3 - 41/81) / (1 - 41/81) = 13/40."""
    kappa = fleiss_kappa([["a", "a", "b"], ["b", "b", _], ["a", _, _]])
    assert kappa == pytest.approx(13 / 40, abs=1e-12)


# --- Cohen's kappa: published values ------------------------------------------------------------


def test_wikipedia_cohen_example() -> None:
    a, b = table_ratings([[20, 5], [10, 15]])
    kappa = cohen_kappa(a, b)
    assert kappa == pytest.approx(0.4, abs=1e-12)
    assert percent_agreement(list(zip(a, b, strict=True))) == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("table", "published"), [([[45, 15], [25, 15]], 0.1304), ([[25, 35], [5, 35]], 0.2593)]
)
def test_wikipedia_cohen_same_percentages_different_numbers(table: list[list[int]], published: float) -> None:
    kappa = cohen_kappa_from_table(table)
    assert kappa is not None
    assert round(kappa, 4) == published


def test_sas_simple_and_linear_weighted_kappa() -> None:
    table = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]
    simple = cohen_kappa_from_table(table)
    linear = cohen_kappa_from_table(table, weights="linear")
    assert simple is not None and linear is not None
    assert round(simple, 4) == 0.4842
    assert round(linear, 4) == 0.4701
    # The same through the ratings, with the three categories in their order.
    a, b = table_ratings(table)
    assert cohen_kappa(a, b, weights="linear") == pytest.approx(linear, abs=1e-12)


@pytest.mark.parametrize(
    ("weights", "published"), [(None, -0.006289308), ("linear", 0.1459075), ("quadratic", 0.2520325)]
)
def test_irr_anxiety_weighted_kappas(weights: str | None, published: float) -> None:
    kappa = cohen_kappa(ANXIETY_RATER2, ANXIETY_RATER3, weights=weights)  # type: ignore[arg-type]
    assert kappa == pytest.approx(published, abs=1e-7)


def test_fixed_categories_space_scores_by_value() -> None:
    """Score 5 is absent from the anxiety data: with categories 1-6 given, 4 and 6 are two steps
    apart rather than adjacent, which changes the quadratic kappa."""
    present = cohen_kappa(ANXIETY_RATER2, ANXIETY_RATER3, weights="quadratic")
    spaced = cohen_kappa(ANXIETY_RATER2, ANXIETY_RATER3, weights="quadratic", categories=range(1, 7))
    assert present is not None and spaced is not None
    assert spaced != pytest.approx(present, abs=1e-3)
    # An unused category at the end changes nothing: its row and column are empty, and the
    # weights' scale (the span of the categories) cancels out of kappa.
    wider = cohen_kappa(ANXIETY_RATER2, ANXIETY_RATER3, weights="quadratic", categories=range(1, 8))
    assert wider == pytest.approx(spaced, abs=1e-12)
    assert cohen_kappa(ANXIETY_RATER2, ANXIETY_RATER3, categories=range(1, 8)) == pytest.approx(
        cohen_kappa(ANXIETY_RATER2, ANXIETY_RATER3), abs=1e-12
    )


# --- edge cases ---------------------------------------------------------------------------------


def test_perfect_agreement_is_one_everywhere() -> None:
    a = ["safe", "unsafe", "safe", "unsafe"]
    units = [[v, v, v] for v in [1, 2, 3, 4, 5]]
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa([1, 5, 10], [1, 5, 10], weights="quadratic") == 1.0
    assert fleiss_kappa(units) == 1.0
    for level in ("nominal", "ordinal", "interval", "ratio"):
        assert krippendorff_alpha(units, level=level) == 1.0  # type: ignore[arg-type]
    assert percent_agreement(units) == 1.0


def test_one_category_only_is_undefined_not_a_number() -> None:
    """Every rating 'safe': agreement beyond chance is 0/0. None, never nan or 1."""
    same = ["safe"] * 5
    assert cohen_kappa(same, same) is None
    assert cohen_kappa_from_table([[5, 0], [0, 0]]) is None
    assert fleiss_kappa([same, same[:3]]) is None
    assert krippendorff_alpha([same, same]) is None
    assert krippendorff_alpha([[7, 7], [7, 7, 7]], level="interval") is None
    # ... while percent agreement is well defined: they do agree.
    assert percent_agreement([same, same]) == 1.0


def test_nothing_pairable_is_undefined() -> None:
    lonely = [[1, _], [_, 2], [3]]
    assert krippendorff_alpha(lonely) is None
    assert fleiss_kappa(lonely) is None
    assert percent_agreement(lonely) is None
    assert cohen_kappa([1, _], [_, 2]) is None
    assert cohen_kappa([], []) is None


def test_units_with_one_rating_do_not_change_alpha() -> None:
    base = [[1, 2, 2], [3, 3, _], [1, 1, 1]]
    padded = [*base, [5, _, _], [_, _, _]]
    for level in ("nominal", "ordinal", "interval"):
        padded_alpha = krippendorff_alpha(padded, level=level)  # type: ignore[arg-type]
        base_alpha = krippendorff_alpha(base, level=level)  # type: ignore[arg-type]
        assert padded_alpha == pytest.approx(base_alpha, abs=1e-12)


def test_interval_alpha_credits_near_misses_that_nominal_does_not() -> None:
    near = [[1, 1], [2, 2], [3, 3], [4, 4], [5, 4]]
    far = [[1, 1], [2, 2], [3, 3], [4, 4], [5, 1]]
    near_interval, far_interval = (
        krippendorff_alpha(near, level="interval"),
        krippendorff_alpha(far, level="interval"),
    )
    assert near_interval is not None and far_interval is not None
    assert near_interval > far_interval
    assert krippendorff_alpha(near) == pytest.approx(krippendorff_alpha(far), abs=1e-12)


def test_percent_agreement_unanimous_and_pairwise() -> None:
    units = [["a", "a", "b"], ["a", "a", "a"]]
    assert percent_agreement(units) == 0.5
    assert percent_agreement(units, pairwise=True) == pytest.approx((1 / 3 + 1) / 2)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="same number"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(ValueError, match="not among the categories"):
        cohen_kappa([1, 11], [1, 2], categories=range(1, 11))
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa([1, 2], [2, 1], weights="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha([["low", "high"], ["low", "low"]], level="interval")
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha([[1, 2]], level="circular")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="square"):
        cohen_kappa_from_table([[1, 2]])


# --- rating tables, pairs and disagreements ----------------------------------------------------


def test_ratings_table_and_units() -> None:
    table = ratings_table([("q2", "li", "safe"), ("q1", "li", "unsafe"), ("q1", "wang", "unsafe")])
    assert table == {"q2": {"li": "safe"}, "q1": {"li": "unsafe", "wang": "unsafe"}}
    assert units_of(table) == [["unsafe", "unsafe"], ["safe"]]
    with pytest.raises(ValueError, match="twice"):
        ratings_table([("q1", "li", "safe"), ("q1", "li", "unsafe")])


def test_category_counts_and_contingency_table() -> None:
    cats, counts = category_counts([["b", "a", _], ["a", "a", "a"]])
    assert cats == ["a", "b"]
    assert counts == [[1, 1], [3, 0]]
    cats2, table = contingency_table([1, 2, 2, _], [1, 2, 1, 3])
    assert cats2 == [1, 2]
    assert table == [[1, 0], [1, 1]]


def test_pairwise_cohen_kappas_use_shared_items_only() -> None:
    table = {
        "q1": {"li": "safe", "wang": "safe", "zhao": "unsafe"},
        "q2": {"li": "unsafe", "wang": "unsafe"},
        "q3": {"li": "safe", "wang": "unsafe", "zhao": "safe"},
        "q4": {"wang": "unsafe", "zhao": "unsafe"},
    }
    pairs = {(p.rater_a, p.rater_b): p for p in pairwise_cohen_kappas(table)}
    assert set(pairs) == {("li", "wang"), ("li", "zhao"), ("wang", "zhao")}
    li_wang = pairs[("li", "wang")]
    assert li_wang.n_items == 3
    assert li_wang.percent_agreement == pytest.approx(2 / 3)
    # li: s, u, s; wang: s, u, u -> table [[1, 1], [0, 1]]: p_o = 2/3, p_e = 2/9 + 2/9 = 4/9.
    assert li_wang.kappa == pytest.approx((2 / 3 - 4 / 9) / (1 - 4 / 9))
    assert pairs[("li", "zhao")].n_items == 2
    assert pairs[("wang", "zhao")].n_items == 3


def test_disagreements_list_contested_items_in_order() -> None:
    table = {
        "q3": {"li": "unsafe", "wang": "safe", "zhao": "unsafe"},
        "q1": {"li": "safe", "wang": "safe"},
        "q2": {"li": "safe", "wang": "unsafe"},
        "q4": {"li": "unsafe"},
    }
    found = disagreements(table)
    assert [d.item_id for d in found] == ["q2", "q3"]
    assert found[0].majority is None  # one each: no majority
    assert found[1].majority == "unsafe"
    assert found[1].ratings == {"li": "unsafe", "wang": "safe", "zhao": "unsafe"}
    assert found[1].spread is None


def test_disagreements_of_scores_respect_the_tolerance() -> None:
    table = {"a": {"x": 7, "y": 8}, "b": {"x": 6, "y": 8, "z": 8}, "c": {"x": 9, "y": 9}}
    assert [d.item_id for d in disagreements(table)] == ["a", "b"]
    close_ok = disagreements(table, tolerance=1)
    assert [d.item_id for d in close_ok] == ["b"]
    assert close_ok[0].spread == 2.0
    assert close_ok[0].majority == 8
