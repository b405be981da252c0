"""Pair files, read as a stream: a prompt with a better and a worse reply.

CValues-Comparison (``prompt, pos_resp, neg_resp, pos_type, neg_type``; JSONL), the JADE-DB
alignment CSVs (``ID, 问题, 违规回答, 安全有用回答``: the safe reply is the better one), and the
triples of an MC file (``question, better, worse``). JSONL files are read one line at a time, so
145k pairs take the memory of one pair; a bad line is an InputError naming the file and line.

Reply classes of CValues-Comparison, best first: 拒绝&正向建议 (safe and responsible) > 拒绝为主
(safe, mostly refusal) > 风险回复 (unsafe). A pair's type is ``pos_type>neg_type``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError
from cvalues.data.items import PairItem
from cvalues.data.mc_build import optional_text, text_value
from cvalues.data.readers import read_rows

REPLY_CLASSES = ("拒绝&正向建议", "拒绝为主", "风险回复")
PAIR_TYPES = tuple(f"{a}>{b}" for i, a in enumerate(REPLY_CLASSES) for b in REPLY_CLASSES[i + 1 :])
COMPARISON_FIELDS = ("prompt", "pos_resp", "neg_resp", "pos_type", "neg_type")
_JADE = ("问题", "违规回答", "安全有用回答")
_TRIPLE = ("question", "better", "worse")


def pair_type(pair: PairItem) -> str | None:
    return f"{pair.pos_type}>{pair.neg_type}" if pair.pos_type and pair.neg_type else None


def check_pair_type(value: str) -> str:
    """A ``--pair-type`` value (``拒绝为主>风险回复``), checked against the three published types."""
    if value not in PAIR_TYPES:
        raise InputError(f"must be one of {', '.join(PAIR_TYPES)}, got {value!r}", flag="--pair-type")
    return value


def iter_pairs(path: Path, *, encoding: str | None = None) -> Iterator[PairItem]:
    """Every pair of ``path``, in file order (the format is read off the first record)."""
    if not path.is_file():
        raise InputError("pair file not found", path=path)
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        yield from _iter_jsonl(path)
        return
    for row in read_rows(path, encoding=encoding):
        yield _pair(row.data, row.line, path)


def _iter_jsonl(path: Path) -> Iterator[PairItem]:
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8", errors="strict").strip()
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"is not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1}); "
                    "a JSONL pair file is UTF-8",
                    path=path,
                    line=number,
                ) from None
            if not text:
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON ({exc.msg})", path=path, line=number) from exc
            if not isinstance(data, dict):
                raise InputError(
                    f"each line must be a JSON object, found {type(data).__name__}", path=path, line=number
                )
            yield _pair(data, number, path)


def _pair(data: dict[str, Any], line: int, path: Path) -> PairItem:
    keys = data.keys()
    if {"prompt", "pos_resp", "neg_resp"} <= keys:
        prompt, pos, neg = (data[k] for k in ("prompt", "pos_resp", "neg_resp"))
        pos_type = optional_text(data.get("pos_type"), "field 'pos_type'", path, line)
        neg_type = optional_text(data.get("neg_type"), "field 'neg_type'", path, line)
        for value, what in ((pos_type, "pos_type"), (neg_type, "neg_type")):
            if value is not None and value not in REPLY_CLASSES:
                raise InputError(
                    f"{what} must be one of {', '.join(REPLY_CLASSES)}, found {value!r}", path=path, line=line
                )
        level = "safety"
    elif set(_JADE) <= keys:
        prompt, neg, pos = (data[k] for k in _JADE)
        pos_type = neg_type = None
        level = "safety"
    elif set(_TRIPLE) <= keys:
        prompt, pos, neg = (data[k] for k in _TRIPLE)
        pos_type = neg_type = None
        level = str(data["level"]) if data.get("level") in ("safety", "responsibility") else "responsibility"
    else:
        raise InputError(
            "not a pair record: expected the fields prompt, pos_resp, neg_resp (CValues-Comparison), "
            "问题, 违规回答, 安全有用回答 (JADE) or question, better, worse; found "
            + ", ".join(map(str, list(keys)[:8])),
            path=path,
            line=line,
        )
    item_id = optional_text(data.get("id", data.get("ID")), "field 'id'", path, line) or str(line)
    return PairItem(
        id=item_id,
        prompt=text_value(prompt, "the prompt", path, line),
        pos=text_value(pos, "the better reply", path, line),
        neg=text_value(neg, "the worse reply", path, line),
        pos_type=pos_type,
        neg_type=neg_type,
        domain=optional_text(data.get("domain"), "field 'domain'", path, line),
        scenario=optional_text(data.get("scenario"), "field 'scenario'", path, line),
        level=level,  # type: ignore[arg-type]
    )


class PairDataset:
    """Pairs held in memory (those of an MC set: small). ``iter_items`` as ``PairFile`` has it."""

    def __init__(self, name: str, source: str, sha256: str, items: list[PairItem]) -> None:
        self.name, self.source, self.sha256, self.items = name, source, sha256, items

    @property
    def n_items(self) -> int:
        return len(self.items)

    def iter_items(self) -> Iterator[PairItem]:
        return iter(self.items)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def selected_pairs(
    path: Path, *, wanted_type: str | None = None, limit: int | None = None
) -> Iterator[PairItem]:
    """The pairs of ``path`` a run asks about, in file order: of one type, the first ``limit``;
    an id that repeats is made unique by the pair's position (the Comparison sample repeats one
    record: each is its own pair). Only the ids seen are kept, never the pairs."""
    seen: set[str] = set()
    for number, pair in enumerate(iter_pairs(path), start=1):
        if wanted_type is not None and pair_type(pair) != wanted_type:
            continue
        if limit is not None and len(seen) >= limit:
            return
        if pair.id in seen:
            pair = replace(pair, id=f"{pair.id}#{number}")
        seen.add(pair.id)
        yield pair


class PairFile:
    """A pair file read as a stream, once for each pass and never held: a scoring run over
    145k pairs holds one chunk of them. Opening it reads the file through once, for its sha256
    and the number of pairs asked about, so a bad line is an InputError before any request."""

    def __init__(
        self,
        path: Path,
        *,
        name: str | None = None,
        source: str | None = None,
        wanted_type: str | None = None,
        limit: int | None = None,
    ) -> None:
        self.path, self.wanted_type, self.limit = path, wanted_type, limit
        self.name = name or path.stem
        self.source = source or str(path.resolve())
        self.sha256 = file_sha256(path)
        self.n_items = sum(1 for _ in self.iter_items())

    def iter_items(self) -> Iterator[PairItem]:
        return selected_pairs(self.path, wanted_type=self.wanted_type, limit=self.limit)


def load_pair_dataset(
    path: Path,
    *,
    name: str | None = None,
    source: str | None = None,
    wanted_type: str | None = None,
    limit: int | None = None,
) -> PairDataset:
    """The pairs of ``path`` (of one type, the first ``limit``: the rest is never held in memory),
    in memory, with the whole file's sha256 (a scoring run streams them instead: ``PairFile``)."""
    items = list(selected_pairs(path, wanted_type=wanted_type, limit=limit))
    return PairDataset(name or path.stem, source or str(path.resolve()), file_sha256(path), items)


__all__ = [
    "COMPARISON_FIELDS",
    "PAIR_TYPES",
    "REPLY_CLASSES",
    "PairDataset",
    "PairFile",
    "check_pair_type",
    "iter_pairs",
    "load_pair_dataset",
    "pair_type",
    "selected_pairs",
]
