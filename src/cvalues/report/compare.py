"""``cvalues compare RUN_A RUN_B``: which differences between two runs on the same items are real.

Items are matched by ``id``; an id whose label or question differs between the runs is a
different item and is left out (counted). Whether the same prompt was sent is reported, since a
changed template or system prompt is usually the point of the comparison.

The sampled unit is the question: its items (both orders, several pairs) are not independent,
so every test and interval works on whole questions (docs/statistics.md says why):

- Per-item values (MC correctness; safety, responsibility, refusal scores): a paired sign-flip
  permutation test over questions (exact up to 12 questions, 2,000 random flips above), and the
  95% interval that inverts the same test, so "significant" is exactly "the interval excludes 0".
- Ratios with run-dependent denominators (acc*, share of 回复1 picks): a permutation test that
  swaps A and B within questions, beside a paired bootstrap interval that resamples whole
  questions; called significant only when both say so.
- The per-domain table: the same sign-flip test per domain, with Holm's step-down correction
  across domains (``p_adjusted``; significant when it is below 0.05; the interval is unadjusted).
``n`` counts the items each metric uses: acc* the items answered by A or B (``n_a`` / ``n_b``
per run), the share of 回复1 the items where a run picked a reply.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cvalues.core.errors import InputError
from cvalues.report.loading import Run
from cvalues.report.paired_stats import (
    ALPHA,
    SignFlipTest,
    cluster_swap_p_value,
    excludes_zero,
    holm_adjust,
    paired_cluster_bootstrap,
)
from cvalues.report.score_samples import item_scores
from cvalues.scoring.stats import Interval

_UNANSWERED = ("Refuse", "Need_Check")
_REPLIES = ("回复1", "回复2")


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    n: int
    a: float | None
    b: float | None
    ci: Interval | None  # of b - a
    test: str
    p_value: float | None
    significant: bool
    detail: str = ""
    n_a: int | None = None  # items the metric uses in run A (when it differs between runs)
    n_b: int | None = None
    p_adjusted: float | None = None  # Holm-adjusted, in the per-domain table

    @property
    def diff(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n": self.n,
            "a": self.a,
            "b": self.b,
            "diff": self.diff,
            "ci": list(self.ci) if self.ci else None,
            "test": self.test,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "significant": self.significant,
            "detail": self.detail,
            "n_a": self.n_a if self.n_a is not None else self.n,
            "n_b": self.n_b if self.n_b is not None else self.n,
        }


@dataclass
class Comparison:
    run_a: Run
    run_b: Run
    kind: str  # "mc" or "score"
    n_matched: int
    n_only_a: int
    n_only_b: int
    n_conflicting: int
    n_same_prompt: int
    metrics: list[MetricComparison]
    by_domain: list[tuple[str, MetricComparison]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": {"path": str(self.run_a.path), "run_id": self.run_a.run_id, "task": self.run_a.task},
            "run_b": {"path": str(self.run_b.path), "run_id": self.run_b.run_id, "task": self.run_b.task},
            "kind": self.kind,
            "items": {
                "matched": self.n_matched,
                "only_in_a": self.n_only_a,
                "only_in_b": self.n_only_b,
                "conflicting": self.n_conflicting,
                "same_prompt": self.n_same_prompt,
            },
            "alpha": ALPHA,
            "multiple_comparisons": "holm" if self.by_domain else None,
            "metrics": [m.to_dict() for m in self.metrics],
            "by_domain": [{"domain": d, **m.to_dict()} for d, m in self.by_domain],
            "notes": self.notes,
        }


# One matched item: (cluster key, domain, value in A, value in B).
Pair = tuple[str, str, float, float]


SIGN_FLIP = "sign-flip permutation over questions"
SWAP = "A/B swap permutation over questions"


def compare_values(metric: str, pairs: Sequence[Pair], *, n_boot: int, seed: int) -> MetricComparison:
    """Mean of A and B over matched items, the sign-flip test over questions and its inverted interval."""
    clusters: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for key, _, a, b in pairs:
        row = clusters[key]
        row[0] += 1
        row[1] += b - a
    n = len(pairs)
    mean_a = sum(p[2] for p in pairs) / n if n else None
    mean_b = sum(p[3] for p in pairs) / n if n else None
    rows = [(clusters[k][0], clusters[k][1]) for k in sorted(clusters)]
    test = SignFlipTest(rows, n_perm=n_boot, seed=seed)
    span = max([1.0, *(abs(p[3] - p[2]) for p in pairs)])
    ci = test.interval(alpha=ALPHA, span=span)
    p_value = test.p_value()
    a_only = sum(1 for p in pairs if p[2] > p[3])
    b_only = sum(1 for p in pairs if p[3] > p[2])
    detail = f"{len(clusters)} questions; A higher on {a_only} item(s), B higher on {b_only}"
    return MetricComparison(metric, n, mean_a, mean_b, ci, SIGN_FLIP, p_value, p_value < ALPHA, detail)


def _ratio_comparison(
    metric: str,
    rows: Sequence[tuple[str, tuple[float, float, float, float]]],
    *,
    n_boot: int,
    seed: int,
) -> MetricComparison:
    """B - A for a ratio of sums per run: rows hold (cluster, (num A, den A, num B, den B)).

    Only rows where a run's denominator is non-zero count toward its n (acc*: answered items).
    """
    rows = [row for row in rows if row[1][1] or row[1][3]]
    clusters: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for key, values in rows:
        for i, v in enumerate(values):
            clusters[key][i] += v

    def ratio(num: float, den: float) -> float | None:
        return num / den if den else None

    def diff(s: Sequence[float]) -> float | None:
        a, b = ratio(s[0], s[1]), ratio(s[2], s[3])
        return None if a is None or b is None else b - a

    vectors = [clusters[k] for k in sorted(clusters)]
    totals = [sum(v[i] for _, v in rows) for i in range(4)]
    ci = paired_cluster_bootstrap(vectors, diff, n_boot=n_boot, seed=seed)
    p_value = cluster_swap_p_value(vectors, diff, n_perm=n_boot, seed=seed)
    a, b = ratio(totals[0], totals[1]), ratio(totals[2], totals[3])
    by_test = p_value is not None and p_value < ALPHA
    by_interval = excludes_zero(ci)
    detail = f"{len(vectors)} questions; interval: paired bootstrap over questions"
    if by_test != by_interval:
        detail += "; the test and the interval disagree, so not called significant"
    return MetricComparison(
        metric, len(rows), a, b, ci, SWAP, p_value, by_test and by_interval, detail,
        n_a=sum(1 for _, v in rows if v[1]), n_b=sum(1 for _, v in rows if v[3]),
    )  # fmt: skip


def _index(run: Run) -> dict[str, list[dict[str, Any]]]:
    if run.samples is None:
        raise InputError("no readable samples.jsonl: compare needs per-item results", path=run.path)
    index: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in run.samples:
        if "id" in sample:
            index[str(sample["id"])].append(sample)
    return index


def _same_item(a: dict[str, Any], b: dict[str, Any], *, mc: bool) -> bool:
    """Same id and, for MC, the same gold label and question (a judge's ``label`` is its verdict)."""
    keys = ("label", "question_key") if mc else ("question_key",)
    return all(a.get(key) == b.get(key) for key in keys if key in a and key in b)


def _domain(sample: dict[str, Any]) -> str:
    return str(sample.get("domain") or sample.get("scenario") or "unknown")


def _mc_metrics(
    matched: list[tuple[dict[str, Any], dict[str, Any]]], n_boot: int, seed: int
) -> tuple[list[MetricComparison], list[Pair]]:
    scored = [(a, b) for a, b in matched if a.get("pred") is not None and b.get("pred") is not None]
    correct: list[Pair] = [
        (
            str(a.get("question_key") or a["id"]),
            _domain(a),
            float(a["pred"] == a["label"]),
            float(b["pred"] == b["label"]),
        )
        for a, b in scored
    ]

    def ratio_rows(num: Callable[[dict[str, Any]], bool], den: Callable[[dict[str, Any]], bool]) -> list[Any]:
        return [
            (
                str(a.get("question_key") or a["id"]),
                (float(num(a)), float(den(a)), float(num(b)), float(den(b))),
            )
            for a, b in scored
        ]

    acc_star = ratio_rows(lambda s: s["pred"] == s["label"], lambda s: s["pred"] not in _UNANSWERED)
    reply1 = ratio_rows(lambda s: s["pred"] == "回复1", lambda s: s["pred"] in _REPLIES)
    metrics = [
        compare_values("acc", correct, n_boot=n_boot, seed=seed),
        _ratio_comparison("acc*", acc_star, n_boot=n_boot, seed=seed),
        _ratio_comparison("share of 回复1 picks", reply1, n_boot=n_boot, seed=seed),
    ]
    return metrics, correct


def _score_metrics(
    matched: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]], n_boot: int, seed: int
) -> tuple[list[MetricComparison], list[Pair]]:
    per_metric: dict[str, list[Pair]] = defaultdict(list)
    for a_samples, b_samples in matched:
        a_scores, b_scores = item_scores(a_samples), item_scores(b_samples)
        first = a_samples[0]
        for metric in a_scores.keys() & b_scores.keys():
            key = str(first.get("question_key") or first["id"])
            per_metric[metric].append((key, _domain(first), a_scores[metric], b_scores[metric]))
    order = ("safety_score", "responsibility_score", "refusal_rate")
    metrics = [compare_values(m, per_metric[m], n_boot=n_boot, seed=seed) for m in order if per_metric.get(m)]
    main = next((per_metric[m] for m in order if per_metric.get(m)), [])
    return metrics, main


def compare_runs(run_a: Run, run_b: Run, *, n_boot: int = 2000, seed: int = 0) -> Comparison:
    """Paired comparison of two runs over the items they share (B - A throughout)."""
    if run_a.is_mc != run_b.is_mc:
        raise InputError(
            f"cannot compare a {run_a.task} run with a {run_b.task} run: "
            "both must be MC runs, or both runs of scored replies",
            path=run_b.path,
        )
    index_a, index_b = _index(run_a), _index(run_b)
    shared = sorted(index_a.keys() & index_b.keys())
    same = [i for i in shared if _same_item(index_a[i][0], index_b[i][0], mc=run_a.is_mc)]
    if not same:
        raise InputError(
            f"no items in common with {run_a.path} (matched by id, label and question)", path=run_b.path
        )
    n_same_prompt = sum(1 for i in same if index_a[i][0].get("prompt") == index_b[i][0].get("prompt"))
    if run_a.is_mc:
        metrics, main = _mc_metrics([(index_a[i][0], index_b[i][0]) for i in same], n_boot, seed)
        kind = "mc"
    else:
        metrics, main = _score_metrics([(index_a[i], index_b[i]) for i in same], n_boot, seed)
        kind = "score"
    by_domain: dict[str, list[Pair]] = defaultdict(list)
    for pair in main:
        by_domain[pair[1]].append(pair)
    main_name = metrics[0].metric if metrics else ""
    domains = [
        (d, compare_values(main_name, by_domain[d], n_boot=n_boot, seed=seed)) for d in sorted(by_domain)
    ]
    domains = _holm(domains)
    comparison = Comparison(
        run_a=run_a,
        run_b=run_b,
        kind=kind,
        n_matched=len(same),
        n_only_a=len(index_a.keys() - index_b.keys()),
        n_only_b=len(index_b.keys() - index_a.keys()),
        n_conflicting=len(shared) - len(same),
        n_same_prompt=n_same_prompt,
        metrics=metrics,
        by_domain=domains,
    )
    _add_notes(comparison)
    return comparison


def _holm(domains: list[tuple[str, MetricComparison]]) -> list[tuple[str, MetricComparison]]:
    """Holm-adjust the per-domain p-values; a domain is significant when its adjusted p is below alpha."""
    adjusted = holm_adjust([m.p_value for _, m in domains])
    return [
        (d, replace(m, p_adjusted=p, significant=p is not None and p < ALPHA))
        for (d, m), p in zip(domains, adjusted, strict=True)
    ]


def _add_notes(c: Comparison) -> None:
    ds_a, ds_b = c.run_a.results.get("dataset") or {}, c.run_b.results.get("dataset") or {}
    if ds_a.get("sha256") and ds_b.get("sha256") and ds_a["sha256"] != ds_b["sha256"]:
        c.notes.append(
            "the runs used different dataset files; "
            "only items with the same id, label and question are compared"
        )
    if c.n_same_prompt < c.n_matched:
        c.notes.append(
            f"the prompt sent differs for {c.n_matched - c.n_same_prompt} of {c.n_matched} matched items "
            "(another template or system prompt)"
        )
    if c.n_conflicting:
        c.notes.append(f"{c.n_conflicting} id(s) name different items in the two runs and were left out")
    if c.n_only_a or c.n_only_b:
        c.notes.append(f"not in both runs: {c.n_only_a} item(s) only in A, {c.n_only_b} only in B")
    if not c.metrics:
        c.notes.append("no metric could be read per item from both runs' samples.jsonl")
    if c.by_domain:
        c.notes.append(
            "per-domain significance uses Holm-adjusted p-values (family-wise error 5% across domains); "
            "the per-domain intervals are unadjusted"
        )
