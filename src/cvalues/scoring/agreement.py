"""Inter-annotator agreement: percent agreement, Cohen's kappa (plain and weighted), Fleiss' kappa,
Krippendorff's alpha, and the list of items whose raters disagree.

Pure Python. Two input shapes are used:

- *units*: one sequence of ratings per item, ``None`` for a missing rating (who gave a rating does
  not matter to Fleiss' kappa or Krippendorff's alpha);
- a *rating table*: ``{item_id: {rater: value}}`` (``ratings_table`` builds one from triples), for
  what needs to know the rater: pairwise Cohen's kappa and the disagreement list.

Undefined is ``None``, never ``nan`` and never a made-up number: a kappa or alpha whose chance
agreement is total (every rating in one category, so there is nothing to agree beyond chance), or
that has no item with two ratings, is ``None``. The caller shows "—", and JSON gets ``null``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Value = Hashable
Units = Sequence[Sequence[Value | None]]
RatingTable = Mapping[str, Mapping[str, Value]]
KappaWeights = Literal["linear", "quadratic"]
AlphaLevel = Literal["nominal", "ordinal", "interval", "ratio"]
ALPHA_LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")

# Chance agreement this close to 1 means every rating fell in one category: kappa is 0/0.
_EPSILON = 1e-12


def ratings_table(rows: Iterable[tuple[str, str, Value]]) -> dict[str, dict[str, Value]]:
    """``{item: {rater: value}}`` from ``(item, rater, value)`` triples.

    Raises ``ValueError`` when a rater rates the same item twice: which rating counts would be a guess.
    """
    table: dict[str, dict[str, Value]] = {}
    for item, rater, value in rows:
        ratings = table.setdefault(item, {})
        if rater in ratings:
            raise ValueError(f"rater {rater!r} rated item {item!r} twice")
        ratings[rater] = value
    return table


def units_of(table: RatingTable) -> list[list[Value]]:
    """The units of a rating table, in sorted item order (so results never depend on dict order)."""
    return [list(table[item].values()) for item in sorted(table)]


def _present(unit: Sequence[Value | None]) -> list[Value]:
    return [value for value in unit if value is not None]


def percent_agreement(units: Units, *, pairwise: bool = False) -> float | None:
    """Share of items (with two or more ratings) on which the raters agree.

    By default an item counts as agreed only when all its ratings are equal. With ``pairwise``,
    each item contributes its share of agreeing rater pairs instead (Fleiss' P-bar, generalised to
    items with differing numbers of raters). For two raters both are the same. ``None`` when no
    item has two ratings.
    """
    shares: list[float] = []
    for unit in units:
        values = _present(unit)
        m = len(values)
        if m < 2:
            continue
        if pairwise:
            counts = Counter(values).values()
            shares.append(sum(c * (c - 1) for c in counts) / (m * (m - 1)))
        else:
            shares.append(1.0 if len(set(values)) == 1 else 0.0)
    return sum(shares) / len(shares) if shares else None


# --- Cohen's kappa ---------------------------------------------------------------------------


def _agreement_weights(k: int, weights: KappaWeights | None) -> list[list[float]]:
    """Agreement weights: 1 on the diagonal, falling linearly or quadratically with the distance."""
    if weights is None:
        return [[1.0 if i == j else 0.0 for j in range(k)] for i in range(k)]
    if weights not in ("linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    power = 1 if weights == "linear" else 2
    span = (k - 1) ** power
    return [[1.0 - abs(i - j) ** power / span for j in range(k)] for i in range(k)]


def cohen_kappa_from_table(
    table: Sequence[Sequence[float]], *, weights: KappaWeights | None = None
) -> float | None:
    """Cohen's kappa from a k x k table of counts (rows: rater A's category, columns: rater B's).

    With ``weights``, Cohen's (1968) weighted kappa with linear (Cicchetti-Allison) or quadratic
    (Fleiss-Cohen) agreement weights over the row/column positions, so the categories must be in
    their order and equally spaced. ``None`` when the table is empty or the chance agreement is 1.
    """
    k = len(table)
    if any(len(row) != k for row in table):
        raise ValueError("the table must be square")
    n = sum(sum(row) for row in table)
    if k < 2 or n <= 0:
        return None
    w = _agreement_weights(k, weights)
    rows = [sum(table[i]) / n for i in range(k)]
    cols = [sum(table[i][j] for i in range(k)) / n for j in range(k)]
    observed = sum(w[i][j] * table[i][j] for i in range(k) for j in range(k)) / n
    expected = sum(w[i][j] * rows[i] * cols[j] for i in range(k) for j in range(k))
    if 1 - expected <= _EPSILON:
        return None
    return (observed - expected) / (1 - expected)


def _sorted_categories(values: Iterable[Value]) -> list[Value]:
    distinct = set(values)
    try:
        return sorted(distinct)  # type: ignore[type-var]
    except TypeError:  # mixed types cannot be ordered; fine for nominal, where order is irrelevant
        return sorted(distinct, key=repr)


def contingency_table(
    a: Sequence[Value | None], b: Sequence[Value | None], categories: Sequence[Value] | None = None
) -> tuple[list[Value], list[list[int]]]:
    """The categories and the table of counts of two raters' paired ratings (pairs with a None dropped)."""
    if len(a) != len(b):
        raise ValueError(f"the two raters need the same number of ratings, got {len(a)} and {len(b)}")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    cats = (
        list(categories) if categories is not None else _sorted_categories(v for pair in pairs for v in pair)
    )
    index = {category: i for i, category in enumerate(cats)}
    if len(index) != len(cats):
        raise ValueError("categories must be distinct")
    table = [[0] * len(cats) for _ in cats]
    for x, y in pairs:
        if x not in index or y not in index:
            raise ValueError(f"rating {x if x not in index else y!r} is not among the categories")
        table[index[x]][index[y]] += 1
    return cats, table


def cohen_kappa(
    a: Sequence[Value | None],
    b: Sequence[Value | None],
    *,
    weights: KappaWeights | None = None,
    categories: Sequence[Value] | None = None,
) -> float | None:
    """Cohen's kappa of two raters' ratings of the same items (position i = item i).

    Pairs where either rating is ``None`` are left out. ``categories`` fixes the category order and
    spacing for weighted kappa: pass ``range(1, 11)`` for 1-10 scores so that 4 and 6 are two steps
    apart even when nobody gave a 5 (by default the categories are the values present, sorted,
    as scikit-learn and R's irr do).
    """
    _, table = contingency_table(a, b, categories)
    return cohen_kappa_from_table(table, weights=weights)


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of two raters on the items both rated."""

    rater_a: str
    rater_b: str
    n_items: int
    percent_agreement: float | None
    kappa: float | None


def pairwise_cohen_kappas(
    table: RatingTable,
    *,
    weights: KappaWeights | None = None,
    categories: Sequence[Value] | None = None,
) -> list[PairAgreement]:
    """Cohen's kappa for every pair of raters over the items both rated, pairs in sorted order."""
    raters = sorted({rater for ratings in table.values() for rater in ratings})
    result: list[PairAgreement] = []
    for first, second in itertools.combinations(raters, 2):
        shared = [item for item in sorted(table) if first in table[item] and second in table[item]]
        a = [table[item][first] for item in shared]
        b = [table[item][second] for item in shared]
        agreement = sum(x == y for x, y in zip(a, b, strict=True)) / len(shared) if shared else None
        kappa = cohen_kappa(a, b, weights=weights, categories=categories) if shared else None
        result.append(PairAgreement(first, second, len(shared), agreement, kappa))
    return result


# --- Fleiss' kappa ---------------------------------------------------------------------------


def category_counts(units: Units) -> tuple[list[Value], list[list[int]]]:
    """The categories and, per unit, how many raters chose each (the n x k table of Fleiss 1971)."""
    present = [_present(unit) for unit in units]
    cats = _sorted_categories(v for values in present for v in values)
    index = {category: i for i, category in enumerate(cats)}
    counts = []
    for values in present:
        row = [0] * len(cats)
        for value in values:
            row[index[value]] += 1
        counts.append(row)
    return cats, counts


def fleiss_kappa_from_counts(counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from an n x k table: row i holds how many raters put item i in each category.

    Fleiss (1971) assumes every item has the same number of raters. Items here may differ: this
    is the generalisation in Gwet's irrCAC (``fleiss.kappa.raw``): observed agreement is the mean,
    over items with at least two ratings, of each item's share of agreeing rater pairs; chance
    agreement is the sum of squared category shares, each item's ratings weighted 1/r_i so every
    rated item counts once. Items with no rating are ignored. With a constant number of raters it
    is exactly Fleiss' kappa. ``None`` when no item has two ratings, or every rating is in one category.
    """
    rated = [row for row in counts if sum(row) > 0]
    pairable = [row for row in rated if sum(row) >= 2]
    if not pairable:
        return None
    k = len(rated[0])
    observed = sum(sum(c * (c - 1) for c in row) / (sum(row) * (sum(row) - 1)) for row in pairable)
    observed /= len(pairable)
    shares = [sum(row[j] / sum(row) for row in rated) / len(rated) for j in range(k)]
    expected = sum(p * p for p in shares)
    if 1 - expected <= _EPSILON:
        return None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(units: Units) -> float | None:
    """Fleiss' kappa of nominal ratings, one sequence of ratings per item (``None`` = missing).

    See ``fleiss_kappa_from_counts`` for items with differing numbers of raters.
    """
    _, counts = category_counts(units)
    return fleiss_kappa_from_counts(counts)


# --- Krippendorff's alpha --------------------------------------------------------------------


def coincidence_matrix(units: Units) -> tuple[list[Value], list[list[float]]]:
    """Krippendorff's coincidence matrix: the values (sorted) and o[c][k].

    Each unit with m >= 2 ratings adds, for every ordered pair of its ratings from different
    raters, 1/(m - 1) to the cell of their two values; units with fewer ratings are not pairable
    and add nothing. Row sums are n_c, the pairable count of value c.
    """
    pairable = [values for values in (_present(unit) for unit in units) if len(values) >= 2]
    values = _sorted_categories(v for unit in pairable for v in unit)
    index = {value: i for i, value in enumerate(values)}
    matrix = [[0.0] * len(values) for _ in values]
    for unit in pairable:
        m = len(unit)
        counts = Counter(unit)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                matrix[index[c]][index[k]] += pairs / (m - 1)
    return values, matrix


def _numeric(values: Sequence[Value], level: str) -> list[float]:
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{level} alpha needs numeric ratings, got {values!r}")
    return [float(v) for v in values]  # type: ignore[arg-type]


def _distances(values: Sequence[Value], totals: Sequence[float], level: str) -> list[list[float]]:
    """Squared differences delta^2(c, k) of Krippendorff's metrics, over the sorted values."""
    size = range(len(values))
    if level == "nominal":
        return [[0.0 if c == k else 1.0 for k in size] for c in size]
    if level == "ordinal":
        # The ranks between c and k, both ends counted half: depends on the marginals, not the values.
        cumulative = list(itertools.accumulate(totals, initial=0.0))

        def ordinal(c: int, k: int) -> float:
            low, high = min(c, k), max(c, k)
            between = cumulative[high + 1] - cumulative[low] - (totals[low] + totals[high]) / 2
            return between * between

        return [[ordinal(c, k) for k in size] for c in size]
    numbers = _numeric(values, level)
    if level == "interval":
        return [[(numbers[c] - numbers[k]) ** 2 for k in size] for c in size]
    if level == "ratio":

        def ratio(c: int, k: int) -> float:
            total = numbers[c] + numbers[k]
            return 0.0 if total == 0 else ((numbers[c] - numbers[k]) / total) ** 2

        return [[ratio(c, k) for k in size] for c in size]
    raise ValueError(f"level must be one of {', '.join(ALPHA_LEVELS)}, got {level!r}")


def krippendorff_alpha(units: Units, *, level: AlphaLevel = "nominal") -> float | None:
    """Krippendorff's alpha = 1 - D_o / D_e, from the coincidence matrix (Krippendorff 2011).

    Any number of raters, missing ratings allowed (``None``), units with fewer than two ratings
    ignored. ``level`` picks the difference function: nominal (any hashable values), ordinal
    (sortable values; only their order matters), interval and ratio (numbers). ``None`` when no
    unit is pairable or every pairable rating has the same value (D_e = 0).
    """
    if level not in ALPHA_LEVELS:
        raise ValueError(f"level must be one of {', '.join(ALPHA_LEVELS)}, got {level!r}")
    values, matrix = coincidence_matrix(units)
    totals = [sum(row) for row in matrix]
    n = sum(totals)
    if n < 2:
        return None
    delta = _distances(values, totals, level)
    size = range(len(values))
    observed = sum(matrix[c][k] * delta[c][k] for c in size for k in size) / n
    expected = sum(totals[c] * totals[k] * delta[c][k] for c in size for k in size) / (n * (n - 1))
    if expected <= _EPSILON:
        return None
    return 1 - observed / expected


# --- Disagreements ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Disagreement:
    """An item whose raters disagree: every rating, the most common value when one leads, and, for
    numeric ratings, the spread (largest minus smallest)."""

    item_id: str
    ratings: dict[str, Value]
    majority: Value | None
    spread: float | None


def disagreements(table: RatingTable, *, tolerance: float = 0.0) -> list[Disagreement]:
    """Items with two or more ratings that are not all equal, in sorted item order.

    For numeric ratings, ``tolerance`` lets close scores pass: an item is listed only when its
    spread exceeds it (``tolerance=1`` keeps 7 and 8 together but lists 6 and 8).
    """
    found: list[Disagreement] = []
    for item in sorted(table):
        ratings = dict(table[item])
        values = [v for v in ratings.values() if v is not None]
        if len(values) < 2 or len(set(values)) == 1:
            continue
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        spread = float(max(values) - min(values)) if numeric else None  # type: ignore[type-var,operator]
        if spread is not None and spread <= tolerance:
            continue
        ranked = Counter(values).most_common()
        majority = ranked[0][0] if ranked[0][1] > ranked[1][1] else None
        found.append(Disagreement(item, ratings, majority, spread))
    return found
