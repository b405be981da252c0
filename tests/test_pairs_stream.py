"""``cvalues pairs`` scoring streams: memory does not grow with the number of pairs, an interrupted
run resumes without asking any request twice, and the streamed tallies give exactly the metrics
of the samples written.

The scorer is real and cheap: ``hf-rm:`` on a reward model built by benchmarks/pairs_stream.py (a
randomly initialised one-layer Llama sequence classifier, character-level tokenizer), so every pair
goes through the real backend, executor, store and run core. benchmarks/pairs_stream.py records
the peak RSS of the same path on 20k, 50k and 145k pairs (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import importlib.util
import json
import random
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from cvalues.api._pairs import pairs_task
from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse, request_hash
from cvalues.core.results import RunResults, read_samples
from cvalues.scoring.pair_metrics import CORRECT, TIE, WRONG, compute_pair_metrics
from cvalues.scoring.stats import cluster_bootstrap_ratio_cis
from cvalues.store import open_store
from cvalues.tasks.run import RunOptions, run_task

REPO = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("pairs_stream", REPO / "benchmarks" / "pairs_stream.py")
assert _SPEC is not None and _SPEC.loader is not None
pairs_stream = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(pairs_stream)

TYPES = pairs_stream.TYPES
PROMPTS = ("怎样才能", "请告诉我", "我想知道", "有没有办法")
CHUNK = 200
REPLIES = ("我不能帮助你做这件事。", "这是违法的，建议你咨询专业人士。", "好的，具体步骤如下：首先……")


def _write_pairs(path: Path, rows: int) -> Path:
    """Short Chinese pairs (the model's cost is not what is measured), two pairs per prompt."""
    with path.open("w", encoding="utf-8") as out:
        for n in range(rows):
            pos_type, neg_type = TYPES[n % 3]
            record = {
                "prompt": f"{PROMPTS[n % 4]}（{n // 2}）",
                "pos_resp": REPLIES[n % 3],
                "neg_resp": REPLIES[(n + 1) % 3] + str(n),
                "pos_type": pos_type,
                "neg_type": neg_type,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [*PROMPTS, *REPLIES, "（）0123456789"]
    return pairs_stream.tiny_reward_model(tmp_path_factory.mktemp("tiny-rm"), texts)  # type: ignore[no-any-return]


def _score(model: Path, pairs: Path, out: Path, *, backend: Any = None) -> RunResults:
    """``cvalues pairs --scorer hf-rm:MODEL`` in chunks of ``CHUNK`` pairs (small: the tests
    cross chunk boundaries without scoring thousands of pairs)."""
    task = pairs_task(f"hf-rm:{model}", pairs, dtype="float32")
    task.chunk_pairs = CHUNK
    with open_store(f"sqlite:///{out.parent / (out.name + '.db')}") as store:
        return run_task(task, RunOptions(out_dir=out, progress=False, device="cpu"), store, backend=backend)


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_number_of_pairs(tmp_path: Path, reward_model: Path) -> None:
    """Python's own peak (tracemalloc) while scoring 400 and then 2,000 pairs (both in chunks of
    200). Before streaming (the run's requests, answers and samples all held; 65be538) the
    same harness grew from 3.1 to 13.7 MiB, 6.7 KB a pair; streamed, 2.0 to 2.6 MiB: what
    still grows is a few hundred bytes a pair (the ids seen, the prompt-clustered tallies and,
    at the end, the per-prompt totals the bootstrap resamples)."""
    _score(reward_model, _write_pairs(tmp_path / "warm.jsonl", 50), tmp_path / "warm")
    peaks = {}
    tracemalloc.start()
    try:
        for rows in (400, 2_000):
            pairs = _write_pairs(tmp_path / f"pairs-{rows}.jsonl", rows)
            tracemalloc.reset_peak()
            results = _score(reward_model, pairs, tmp_path / f"run-{rows}")
            peaks[rows] = tracemalloc.get_traced_memory()[1]
            assert results.metrics.n == rows and results.execution.n_sent == 2 * rows
    finally:
        tracemalloc.stop()
    growth = peaks[2_000] - peaks[400]
    print(f"tracemalloc peak: {peaks[400] / 2**20:.2f} MiB at 400 pairs, {peaks[2_000] / 2**20:.2f} at 2,000")
    assert growth < 1_600 * 1_000, f"peak {peaks[400] / 2**20:.2f} -> {peaks[2_000] / 2**20:.2f} MiB"


class _Recording:
    """The real reward backend, recording the hash of every request it is sent; optionally Ctrl-C
    (a KeyboardInterrupt in the event loop) once ``stop_after`` requests were answered."""

    def __init__(self, inner: Any, stop_after: int | None = None) -> None:
        self.inner, self.spec, self.stop_after = inner, inner.spec, stop_after
        self.batch_size, self.max_concurrency = inner.batch_size, 1
        self.sent: list[str] = []

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        if self.stop_after is not None and len(self.sent) >= self.stop_after:
            raise KeyboardInterrupt
        answers = await self.inner.complete(requests, settings)
        self.sent += [request_hash(self.spec.key, settings, r) for r in requests]
        return list(answers)

    async def aclose(self) -> None:
        return None


@pytest.mark.slow
def test_an_interrupted_run_resumes_without_asking_anything_twice(tmp_path: Path, reward_model: Path) -> None:
    from cvalues.models.reward_backend import RewardModelBackend

    pairs = _write_pairs(tmp_path / "pairs.jsonl", 500)  # chunks of 200, 200 and 100 pairs
    out = tmp_path / "run"
    real = RewardModelBackend(ModelSpec.parse(f"hf-rm:{reward_model}", dtype="float32"), device="cpu")
    first = _Recording(real, stop_after=600)  # in the second chunk
    with pytest.raises(KeyboardInterrupt):
        _score(reward_model, pairs, out, backend=first)
    assert not (out / "samples.jsonl").exists() and not list(out.glob(".samples.jsonl.*"))
    with open_store(f"sqlite:///{tmp_path / 'run.db'}") as store:
        run = store.find_run_by_out_dir(out)
        assert run is not None and run.status == "interrupted"
    second = _Recording(real)
    results = _score(reward_model, pairs, out, backend=second)
    assert len(first.sent) >= 600 and not set(first.sent) & set(second.sent)
    assert len(first.sent) + len(second.sent) == len(set(first.sent) | set(second.sent)) == 1_000
    assert results.execution.n_sent == len(second.sent) and results.execution.n_cached == len(first.sent)
    samples = [s.model_dump() for s in read_samples(out / "samples.jsonl")]
    assert [s["id"] for s in samples] == [str(n) for n in range(1, 501)]
    recomputed = compute_pair_metrics(samples)
    body = results.to_json()
    assert recomputed["metrics"] == body["metrics"] and recomputed["by_pair_type"] == body["by_pair_type"]
    third = _Recording(real)
    again = _score(reward_model, pairs, out, backend=third)
    assert third.sent == [] and again.execution.n_cached == 1_000 and again.run_id == results.run_id


def test_streamed_tallies_match_prompt_clusters_formed_directly() -> None:
    """compute_pair_metrics (now a stream of tallies) against the clusters built the plain way:
    per prompt, sorted by prompt key, the same bootstrap."""
    rng = random.Random(7)
    records = []
    for n in range(600):
        prompt = rng.randrange(150)
        records.append(
            {
                "id": str(n),
                "prompt_key": f"{prompt * 7919:016x}",
                "pair_type": rng.choice(["拒绝为主>风险回复", "拒绝&正向建议>拒绝为主", None]),
                "outcome": rng.choice([CORRECT, WRONG, TIE, None]),
            }
        )
    result = compute_pair_metrics(iter(records))
    for group, selected in (
        (result["metrics"], records),
        (
            result["by_pair_type"]["拒绝为主>风险回复"],
            [r for r in records if r["pair_type"] == "拒绝为主>风险回复"],
        ),
    ):
        scored = [r for r in selected if r["outcome"] is not None]
        totals: dict[str, list[int]] = {}
        for r in scored:
            row = totals.setdefault(r["prompt_key"], [0, 0, 0, 0])
            row[0] += 1
            row[1] += r["outcome"] == CORRECT
            row[2] += r["outcome"] != TIE
            row[3] += r["outcome"] == TIE
        clusters = [totals[key] for key in sorted(totals)]
        acc_ci, decided_ci, tie_ci = cluster_bootstrap_ratio_cis(
            clusters, ((1, 0), (1, 2), (3, 0)), n_boot=1000, seed=0
        )
        correct = sum(r["outcome"] == CORRECT for r in scored)
        ties = sum(r["outcome"] == TIE for r in scored)
        assert (group["n"], group["n_unscored"], group["correct"], group["ties"]) == (
            len(scored),
            len(selected) - len(scored),
            correct,
            ties,
        )
        assert group["accuracy"] == correct / len(scored)
        assert group["accuracy_decided"] == correct / (len(scored) - ties)
        assert (group["accuracy_ci"], group["accuracy_decided_ci"], group["tie_rate_ci"]) == (
            list(acc_ci),
            list(decided_ci),
            list(tie_ci),
        )


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="not 'better'"):
        compute_pair_metrics([{"id": "1", "outcome": "better"}])
