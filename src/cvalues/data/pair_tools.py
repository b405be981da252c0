"""What pair files are for besides scoring: MC sets, training data, and a leakage check.

All three stream: a pair is read, written or indexed and dropped, so memory stays flat whatever
the file's size (145k CValues-Comparison pairs included).

- ``build_mc``: each pair asked in both orders (the official construction: better as 回复1, then as
  回复2), written as the ``question, reply1, reply2, label`` rows that ``cvalues mc`` reads
  unchanged; the pair type goes in ``difficulty`` so the MC breakdown is per pair type.
- ``export_pairs``: supervision for hardening, in the shapes TRL and LLaMA-Factory read: ``sft``
  (TRL conversational ``messages``), ``dpo`` (TRL ``prompt, chosen, rejected``), ``sft-alpaca`` and
  ``dpo-alpaca`` (LLaMA-Factory's alpaca ``instruction, input, output`` / ``chosen, rejected``);
  optionally only the pairs of the groups where a run was weakest.
- ``check_overlap``: prompts shared by two pair files (train and test), and texts of a pair file
  that appear in an evaluation set, exactly (after normalising) or nearly (character 5-gram
  Jaccard, estimated with MinHash LSH from ``datasketch``, threshold 0.8). A report, never a filter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError
from cvalues.core.files import AtomicLines
from cvalues.data.items import PairItem
from cvalues.data.mc_build import items_from_pair
from cvalues.data.pairs import pair_type
from cvalues.data.text_normal import normalise

EXPORT_FORMATS = ("sft", "dpo", "sft-alpaca", "dpo-alpaca")
NEAR_THRESHOLD = 0.8
SHINGLE = 5
NUM_PERM = 64


def _selected(pairs: Iterable[PairItem], wanted_type: str | None) -> Iterator[PairItem]:
    for pair in pairs:
        if wanted_type is None or pair_type(pair) == wanted_type:
            yield pair


def build_mc(pairs: Iterable[PairItem], out: Path, *, wanted_type: str | None = None) -> int:
    """Write the MC items of ``pairs`` (both orders) to ``out``; return how many items."""
    with AtomicLines(out) as lines:
        for pair in _selected(pairs, wanted_type):
            for item in items_from_pair(
                pair.id, pair.prompt, pair.pos, pair.neg, difficulty=pair_type(pair), level=pair.level
            ):
                row: dict[str, str | None] = {"id": item.id, "question": item.question, "reply1": item.reply1}
                row["reply2"] = item.reply2
                row.update(label=item.label, level=item.level, difficulty=item.difficulty, domain=pair.domain)
                lines.write({k: v for k, v in row.items() if v is not None})
    return lines.count


def _export_row(pair: PairItem, fmt: str) -> dict[str, Any]:
    if fmt == "sft":
        return {
            "messages": [{"role": "user", "content": pair.prompt}, {"role": "assistant", "content": pair.pos}]
        }
    if fmt == "dpo":
        return {"prompt": pair.prompt, "chosen": pair.pos, "rejected": pair.neg}
    if fmt == "sft-alpaca":
        return {"instruction": pair.prompt, "input": "", "output": pair.pos}
    return {"instruction": pair.prompt, "input": "", "chosen": pair.pos, "rejected": pair.neg}


def weakest_groups(run_dir: Path) -> dict[str, set[str]]:
    """The groups where a run scored below its own overall accuracy: {"domain": {...}, "scenario": {...}}."""
    path = run_dir / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("no results.json (not a finished run directory)", path=path) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from exc
    overall = (results.get("metrics") or {}).get("acc")
    weak: dict[str, set[str]] = {"domain": set(), "scenario": set()}
    for key, field_name in (("by_domain", "domain"), ("by_scenario", "scenario")):
        for group, metrics in (results.get(key) or {}).items():
            acc = metrics.get("acc") if isinstance(metrics, dict) else None
            if acc is not None and overall is not None and acc < overall and group != "unknown":
                weak[field_name].add(group)
    if not weak["domain"] and not weak["scenario"]:
        raise InputError(
            "the run has no domain or scenario scoring below its overall accuracy", flag="--weakest-of"
        )
    return weak


def export_pairs(
    pairs: Iterable[PairItem],
    out: Path,
    *,
    fmt: str,
    wanted_type: str | None = None,
    weak: dict[str, set[str]] | None = None,
) -> int:
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}", flag="--format")
    with AtomicLines(out) as lines:
        for pair in _selected(pairs, wanted_type):
            if (
                weak is not None
                and pair.domain not in weak["domain"]
                and pair.scenario not in weak["scenario"]
            ):
                continue
            lines.write(_export_row(pair, fmt))
    return lines.count


@dataclass
class OverlapReport:
    n_pairs: int = 0
    exact: dict[str, int] = field(default_factory=dict)  # what matched -> count
    near: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, str]] = field(default_factory=list)  # ids only: the texts stay in the files
    method: str = (
        f"exact: equal after NFKC and removing whitespace and punctuation; near: character {SHINGLE}-gram "
        f"Jaccard >= {NEAR_THRESHOLD}, estimated by MinHash LSH ({NUM_PERM} permutations, datasketch)"
    )

    def add(self, kind: str, what: str, pair_id: str, other_id: str) -> None:
        counts = self.exact if kind == "exact" else self.near
        counts[what] = counts.get(what, 0) + 1
        if len(self.examples) < 20:
            self.examples.append({"kind": kind, "what": what, "pair": pair_id, "other": other_id})

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_pairs": self.n_pairs,
            "exact": self.exact,
            "near": self.near,
            "examples": self.examples,
            "method": self.method,
        }


def check_overlap(
    pairs: Iterable[PairItem],
    *,
    against: Iterable[tuple[str, str, str]] = (),
    against_prompts: Iterable[PairItem] = (),
) -> OverlapReport:
    """Overlap of ``pairs`` with an evaluation set (``against``: (id, kind, text), kind "prompt" or
    "reply") and with another pair file's prompts (``against_prompts``, e.g. train against test)."""
    # datasketch pulls in scipy (about half a second at every start of the CLI); only this check
    # needs it, so its module is loaded here.
    from cvalues.data.near_duplicates import minhash, new_index

    exact: dict[str, list[tuple[str, str]]] = {}
    lsh = new_index(NEAR_THRESHOLD, NUM_PERM)
    for other_id, kind, text in against:
        key = normalise(text)
        if key not in exact and len(key) >= SHINGLE:  # one signature per distinct text
            lsh.insert(f"{kind}\x1f{other_id}\x1f{len(exact)}", minhash(text, NUM_PERM, SHINGLE))
        exact.setdefault(key, []).append((other_id, kind))
    other_prompts = {normalise(p.prompt): p.id for p in against_prompts}
    report = OverlapReport()
    for pair in pairs:
        report.n_pairs += 1
        if other_prompts and normalise(pair.prompt) in other_prompts:
            report.add(
                "exact", "prompt in the other pair file", pair.id, other_prompts[normalise(pair.prompt)]
            )
        for what, text in (("prompt", pair.prompt), ("better reply", pair.pos), ("worse reply", pair.neg)):
            hits = exact.get(normalise(text))
            if hits:
                other_id, kind = hits[0]
                report.add("exact", f"{what} = evaluation {kind}", pair.id, other_id)
                continue
            if exact and len(normalise(text)) >= SHINGLE:
                near = lsh.query(minhash(text, NUM_PERM, SHINGLE))
                if near:
                    kind, other_id, _ = sorted(near)[0].split("\x1f")
                    report.add("near", f"{what} ~ evaluation {kind}", pair.id, other_id)
    return report


__all__ = [
    "EXPORT_FORMATS",
    "OverlapReport",
    "build_mc",
    "check_overlap",
    "export_pairs",
    "normalise",
    "weakest_groups",
]
