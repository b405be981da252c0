"""Preference pairs from Python: score them (``pairs``), turn them into MC sets, training data,
and an overlap report. Pair datasets are a file, or a ModelScope name with a split
(``cvalues-comparison``, split ``train`` or ``test``), fetched and verified on first use."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvalues.api._single import model_spec, run_options, run_with_store, split_options
from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.errors import InputError
from cvalues.core.files import slug
from cvalues.core.requests import GenerationSettings
from cvalues.core.results import RunResults
from cvalues.data.items import MCDataset, MCItem, PairItem, PromptItem
from cvalues.data.mc_build import items_from_pair
from cvalues.data.modelscope import MODELSCOPE_SOURCES, fetch_modelscope
from cvalues.data.pair_tools import OverlapReport, build_mc, check_overlap, export_pairs, weakest_groups
from cvalues.data.pairs import PairDataset, PairFile, check_pair_type, iter_pairs
from cvalues.data.pairs import pair_type as type_of_pair
from cvalues.data.prompt_sets import PromptDataset, load_prompt_dataset
from cvalues.data.resolve import load_mc_dataset
from cvalues.models.availability import check_out_dir
from cvalues.scoring.rubrics import load_rubric
from cvalues.store import Store
from cvalues.tasks.pairs_task import PairsTask, parse_scorer
from cvalues.tasks.run import run_sync


@dataclass(frozen=True)
class PairSource:
    path: Path
    name: str
    source: str
    sha256: str | None  # known up front for a ModelScope file; a local file is hashed when read


def pair_source(dataset: str | Path, split: str = "test") -> PairSource:
    """A pair file: a ModelScope name (fetched, verified) or a path."""
    ref = str(dataset)
    if ref in MODELSCOPE_SOURCES:
        fetched = fetch_modelscope(ref, split)
        source = MODELSCOPE_SOURCES[ref]
        return PairSource(fetched.path, f"{ref}-{split}", source.url(split), fetched.sha256)
    path = Path(ref).expanduser()
    if not path.is_file():
        known = ", ".join(MODELSCOPE_SOURCES)
        raise InputError(
            f"{ref!r} is neither a pair dataset name ({known}) nor an existing file", flag="--dataset"
        )
    return PairSource(path, path.stem, str(path.resolve()), None)


def dataset_pairs(dataset: str | Path, split: str = "test") -> Iterator[PairItem]:
    """The pairs of a pair file or ModelScope pair set, or of an MC set (each pair once, from its
    items: the better and the worse reply of a question), streamed where the source allows."""
    ref = str(dataset)
    if ref in MODELSCOPE_SOURCES or Path(ref).expanduser().is_file():
        try:
            source = pair_source(dataset, split)
            first = next(iter_pairs(source.path), None)
        except InputError as not_pairs:
            if ref in MODELSCOPE_SOURCES:
                raise
            yield from _mc_pairs(ref, not_pairs)
            return
        if first is not None:
            yield from iter_pairs(source.path)
        return
    yield from _mc_pairs(ref, None)


def _mc_pairs(ref: str, not_pairs: InputError | None) -> Iterator[PairItem]:
    try:
        mc = load_mc_dataset(ref)
    except InputError:
        raise not_pairs or InputError(
            f"{ref!r} is neither a pair dataset ({', '.join(MODELSCOPE_SOURCES)}), an MC set, nor a file",
            flag="--dataset",
        ) from None
    seen: set[str] = set()
    for item in mc.items:
        key = item.pair_id or item.id
        if key not in seen:
            seen.add(key)
            yield PairItem(
                item.id,
                item.question,
                item.better,
                item.worse,
                domain=item.domain,
                scenario=item.scenario,
                level=item.level or "safety",
            )


def pair_dataset(
    dataset: str | Path, split: str, wanted: str | None, limit: int | None
) -> PairFile | PairDataset:
    """The pairs to score: of a pair file or ModelScope pair set, streamed (read once to count and
    check them, then a chunk at a time by the run), or of an MC set (each pair once, in memory)."""
    ref = str(dataset)
    if ref in MODELSCOPE_SOURCES or Path(ref).expanduser().is_file():
        source = pair_source(dataset, split)
        try:
            return PairFile(
                source.path, name=source.name, source=source.source, wanted_type=wanted, limit=limit
            )
        except InputError:
            if ref in MODELSCOPE_SOURCES:
                raise
    mc = load_mc_dataset(ref)
    pairs = [p for p in dataset_pairs(ref, split) if wanted is None or type_of_pair(p) == wanted][:limit]
    return PairDataset(mc.name, mc.source, mc.sha256, pairs)


def mc_from_pairs(dataset: str, split: str, wanted: str | None, limit: int | None) -> MCDataset:
    """An MC set built from a pair dataset (both orders of each pair), for suites: the first
    ``limit`` items of the pairs of type ``wanted``."""
    source = pair_source(dataset, split)
    items: list[MCItem] = []
    for pair in dataset_pairs(dataset, split):
        if wanted is not None and type_of_pair(pair) != wanted:
            continue
        items.extend(
            items_from_pair(
                pair.id, pair.prompt, pair.pos, pair.neg, difficulty=type_of_pair(pair), level=pair.level
            )
        )
        if limit is not None and len(items) >= limit:
            break
    sha = source.sha256 or hashlib.sha256(source.path.read_bytes()).hexdigest()
    return MCDataset(name=source.name, source=source.source, sha256=sha, items=items)


def prompts_from_pairs(dataset: str, split: str, limit: int | None) -> PromptDataset:
    """The distinct prompts of a pair dataset, as a prompt set (Level-1 safety prompts)."""
    source = pair_source(dataset, split)
    seen: dict[str, PromptItem] = {}
    for pair in dataset_pairs(dataset, split):
        if pair.prompt not in seen:
            seen[pair.prompt] = PromptItem(
                id=pair.id, prompt=pair.prompt, level=pair.level, should_answer=False
            )
            if limit is not None and len(seen) >= limit:
                break
    sha = source.sha256 or hashlib.sha256(source.path.read_bytes()).hexdigest()
    return PromptDataset(
        name=source.name, source=source.source, sha256=sha, items=list(seen.values()), format="pairs"
    )


def pairs_task(
    scorer: str,
    dataset: str | Path,
    *,
    split: str = "test",
    rubric: str = "pairwise",
    pair_type: str | None = None,
    limit: int | None = None,
    max_tokens: int = 256,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    dtype: str | None = None,
) -> PairsTask:
    kind, spec_text = parse_scorer(scorer)
    wanted = check_pair_type(pair_type) if pair_type else None
    spec: ModelSpec = model_spec(
        spec_text, base_url=base_url, api_key_env=api_key_env, dtype=dtype, flag="--scorer"
    )
    loaded_rubric = load_rubric(rubric) if kind == "judge" else None
    if loaded_rubric is not None and loaded_rubric.kind != "pairwise":
        raise InputError(
            f"a judge scores pairs with a pairwise rubric, not {loaded_rubric.name!r}", flag="--rubric"
        )
    data = pair_dataset(dataset, split, wanted, limit)
    if not data.n_items:
        raise InputError("no pairs to score" + (f" of type {wanted}" if wanted else ""), flag="--dataset")
    return PairsTask(
        spec=spec,
        dataset=data,
        scorer=kind,
        rubric=loaded_rubric,
        settings=GenerationSettings(max_tokens=max_tokens),
        limit=limit,
    )


async def pairs_async(
    scorer: str,
    dataset: str | Path,
    *,
    out: str | Path | None = None,
    db: str | None = None,
    store: Store | None = None,
    backend: Backend | None = None,
    **kwargs: Any,
) -> RunResults:
    """Pairwise accuracy of a scorer on preference pairs (resumable); ``out`` defaults to
    ``runs/pairs-<dataset>-<scorer>``. Run options as ``cvalues.mc_async`` (``executor="ray"`` …)."""
    task_options, run_kwargs = split_options(kwargs)
    task = pairs_task(scorer, dataset, **task_options)
    out_dir = (
        Path(out)
        if out is not None
        else Path("runs") / f"pairs-{slug(task.dataset.name)}-{slug(task.spec.name)}-{task.scorer}"
    )
    check_out_dir(out_dir)
    return await run_with_store(task, run_options(out_dir, run_kwargs), db=db, store=store, backend=backend)


def pairs(scorer: str, dataset: str | Path, **kwargs: Any) -> RunResults:
    return run_sync(lambda: pairs_async(scorer, dataset, **kwargs))


def pairs_build_mc(
    dataset: str | Path, out: str | Path, *, split: str = "test", pair_type: str | None = None
) -> int:
    """MC items (both orders) from pairs, as a file ``cvalues mc`` reads; returns the number of items."""
    wanted = check_pair_type(pair_type) if pair_type else None
    return build_mc(dataset_pairs(dataset, split), Path(out), wanted_type=wanted)


def pairs_export(
    dataset: str | Path,
    out: str | Path,
    *,
    fmt: str,
    split: str = "train",
    pair_type: str | None = None,
    weakest_of: str | Path | None = None,
) -> int:
    """SFT or DPO training data from pairs; ``weakest_of``: only the groups a run did worst on."""
    wanted = check_pair_type(pair_type) if pair_type else None
    weak = weakest_groups(Path(weakest_of)) if weakest_of is not None else None
    return export_pairs(dataset_pairs(dataset, split), Path(out), fmt=fmt, wanted_type=wanted, weak=weak)


def _evaluation_texts(ref: str) -> Iterator[tuple[str, str, str]]:
    """(id, "prompt" | "reply", text) of an MC set or a prompt set."""
    try:
        mc = load_mc_dataset(ref)
    except InputError:
        prompts = load_prompt_dataset(ref)
        for item in prompts.items:  # reference answers count as replies (100PoisonMpts' expert answers)
            yield item.id, "prompt", item.prompt
            for reference in item.references:
                yield item.id, "reply", reference
        return
    for mc_item in mc.items:
        yield mc_item.id, "prompt", mc_item.question
        yield mc_item.id, "reply", mc_item.reply1
        yield mc_item.id, "reply", mc_item.reply2


def pairs_check(
    dataset: str | Path, *, split: str = "test", against: str | None = None, other_split: str | None = None
) -> OverlapReport:
    """Overlap of a pair set with an evaluation set (``against``) and with another split's prompts."""
    others = dataset_pairs(dataset, other_split) if other_split else ()
    return check_overlap(
        dataset_pairs(dataset, split),
        against=_evaluation_texts(against) if against else (),
        against_prompts=others,
    )


__all__ = [
    "mc_from_pairs",
    "pair_dataset",
    "pair_source",
    "pairs",
    "pairs_async",
    "pairs_build_mc",
    "pairs_check",
    "pairs_export",
    "pairs_task",
    "prompts_from_pairs",
]
