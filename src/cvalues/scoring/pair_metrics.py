"""Pairwise accuracy of a scorer (reward model, policy log-probability, LLM judge) on preference pairs.

Each sample line says how the scorer decided one pair: ``correct`` (the better reply won),
``wrong``, ``tie`` (equal scores, or the judge said so), or None (the request failed or the
judge's output could not be read: in no denominator). Ties are counted apart:

- ``accuracy``: correct / (correct + wrong + tie), the strict reading (a tie is not a win);
- ``accuracy_decided``: correct / (correct + wrong), ties left out; ``tie_rate`` beside them.

Intervals are 95% percentile-bootstrap intervals that resample whole prompts (several pairs of
one prompt move together, as CValues-Comparison builds up to three pairs per prompt). A
log-probability scorer is also read length-normalised (mean log-probability per token), in
``*_normalised``; a judge asked in both orders reports its order consistency.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

from cvalues.scoring.stats import cluster_bootstrap_ratio_cis

CORRECT, WRONG, TIE = "correct", "wrong", "tie"
N_BOOT, SEED = 1000, 0
_N, _CORRECT, _DECIDED, _TIES = range(4)
_CODES = {CORRECT: 0, WRONG: 1, TIE: 2}
_HEX = frozenset("0123456789abcdef")
# Breakdown name -> the sample field it groups by.
_BREAKDOWNS = {"by_pair_type": "pair_type", "by_domain": "domain", "by_scenario": "scenario"}
Record = dict[str, Any]


def outcome(better: float | None, worse: float | None) -> str | None:
    """How two scores decide a pair (higher is better)."""
    if better is None or worse is None:
        return None
    if better == worse:
        return TIE
    return CORRECT if better > worse else WRONG


class OutcomeTally:
    """One outcome field over a group of pairs, streamed: each scored pair kept as its prompt's
    64-bit key and an outcome code (9 bytes, in two arrays), the unscored counted. Per-prompt
    totals, sorted by prompt key (the order the bootstrap draws from, so a result recomputes
    exactly from samples.jsonl), are formed only when ``result`` is asked for."""

    def __init__(self) -> None:
        self.keys = array("Q")
        self.codes = array("B")
        self.n_unscored = 0

    def add(self, key: int, value: str | None) -> None:
        if value is None:
            self.n_unscored += 1
            return
        code = _CODES.get(value)
        if code is None:
            raise ValueError(f"an outcome is {CORRECT!r}, {WRONG!r}, {TIE!r} or None, not {value!r}")
        self.keys.append(key)
        self.codes.append(code)

    def result(self) -> dict[str, Any]:
        clusters: list[list[int]] = []
        last: int | None = None
        row = [0, 0, 0, 0]
        for index in sorted(range(len(self.keys)), key=self.keys.__getitem__):
            key, code = self.keys[index], self.codes[index]
            if key != last:
                row = [0, 0, 0, 0]
                clusters.append(row)
                last = key
            row[_N] += 1
            row[_CORRECT] += code == _CODES[CORRECT]
            row[_DECIDED] += code != _CODES[TIE]
            row[_TIES] += code == _CODES[TIE]
        n = len(self.keys)
        correct = sum(row[_CORRECT] for row in clusters)
        ties = sum(row[_TIES] for row in clusters)
        acc_ci, decided_ci, tie_ci = cluster_bootstrap_ratio_cis(
            clusters, ((_CORRECT, _N), (_CORRECT, _DECIDED), (_TIES, _N)), n_boot=N_BOOT, seed=SEED
        )
        return {
            "n": n,
            "n_unscored": self.n_unscored,
            "correct": correct,
            "ties": ties,
            "accuracy": correct / n if n else None,
            "accuracy_ci": list(acc_ci) if n and acc_ci else None,
            "accuracy_decided": correct / (n - ties) if n - ties else None,
            "accuracy_decided_ci": list(decided_ci) if n - ties and decided_ci else None,
            "tie_rate": ties / n if n else None,
            "tie_rate_ci": list(tie_ci) if n and tie_ci else None,
        }


class _GroupTally:
    """Every outcome field of one group (all pairs, or one pair type, domain or scenario)."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.tallies = {field: OutcomeTally() for field in fields}

    def add(self, key: int, record: Record) -> None:
        for field, tally in self.tallies.items():
            tally.add(key, record.get(field))

    def result(self) -> dict[str, Any]:
        result = self.tallies["outcome"].result()
        for field, tally in self.tallies.items():
            if field != "outcome":
                result[field.removeprefix("outcome_")] = tally.result()
        return result


def cluster_key(record: Record) -> int:
    """The pair's prompt as a 64-bit key: its ``prompt_key`` (16 hex digits, so the keys sort as
    the strings do), else a hash of ``prompt_key`` or ``id`` as given."""
    key = str(record.get("prompt_key") or record["id"])
    if len(key) != 16 or not all(c in _HEX for c in key):
        key = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return int(key, 16)


class PairMetricsTally:
    """``compute_pair_metrics`` a record at a time: ``add`` each sample line, then ``result``.
    Holds 9 bytes per scored pair and outcome field it counts in (for the prompt-clustered
    bootstrap), never the records: 145k pairs scored by log-probability take about 5 MB."""

    def __init__(self, *, extra_outcomes: Sequence[str] = ()) -> None:
        self.fields = ["outcome", *extra_outcomes]
        self.overall = _GroupTally(self.fields)
        self.groups: dict[str, dict[str, _GroupTally]] = {name: {} for name in _BREAKDOWNS}
        self.both_orders = False
        self.n_both = self.n_consistent = 0

    def add(self, record: Record) -> None:
        key = cluster_key(record)
        self.overall.add(key, record)
        for name, field in _BREAKDOWNS.items():
            value = record.get(field)
            if value:
                group = self.groups[name].get(value)
                if group is None:
                    group = self.groups[name][value] = _GroupTally(self.fields)
                group.add(key, record)
        if "outcome_ab" in record:
            self.both_orders = True
            ab, ba = record.get("outcome_ab"), record.get("outcome_ba")
            if ab is not None and ba is not None:
                self.n_both += 1
                self.n_consistent += ab == ba

    def result(self) -> dict[str, Any]:
        metrics = self.overall.result()
        if self.both_orders:
            n, same = self.n_both, self.n_consistent
            metrics["order_consistency"] = {
                "n": n,
                "consistent": same,
                "consistency": same / n if n else None,
            }
        result: dict[str, Any] = {"metrics": metrics}
        for name, groups in self.groups.items():
            result[name] = {value: groups[value].result() for value in sorted(groups)}
        return result


def order_consistency(records: Sequence[Record]) -> dict[str, Any]:
    """Judges: the share of pairs whose two orders named the same winner (among pairs with both read)."""
    both = [r for r in records if r.get("outcome_ab") is not None and r.get("outcome_ba") is not None]
    same = sum(r["outcome_ab"] == r["outcome_ba"] for r in both)
    return {"n": len(both), "consistent": same, "consistency": same / len(both) if both else None}


def compute_pair_metrics(records: Iterable[Record], *, extra_outcomes: Sequence[str] = ()) -> dict[str, Any]:
    """``metrics`` overall and ``by_pair_type``, ``by_domain``, ``by_scenario`` (a pair without a
    value is left out of that breakdown); ``records`` may be a stream (lines of samples.jsonl)."""
    tally = PairMetricsTally(extra_outcomes=extra_outcomes)
    for record in records:
        tally.add(record)
    return tally.result()


__all__ = [
    "CORRECT",
    "TIE",
    "WRONG",
    "OutcomeTally",
    "PairMetricsTally",
    "cluster_key",
    "compute_pair_metrics",
    "order_consistency",
    "outcome",
]
