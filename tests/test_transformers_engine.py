"""The transformers backend's two engines and two choice paths.

- The CPU fast path (``--engine fast``) gives plain transformers' greedy tokens and, to float32
  rounding, its choice log-probabilities, on SmolLM2 (Llama shape, the real GGUF) and on random
  Qwen2 / Qwen3 models built here; what it does not cover runs plain, with the reason recorded.
- One-pass choice scoring equals the exact per-choice sums where both apply.
- ``--dtype auto`` on CPU: bfloat16 where the CPU has it natively; bfloat16 answers stay within
  a stated tolerance of float32.
- Token-budget batching.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import typer

from cvalues.cli.common import _check_engine
from cvalues.core.backend import ModelSpec
from cvalues.core.errors import BackendError
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse
from cvalues.models.transformers import TransformersBackend, loading
from cvalues.models.transformers._fast.coverage import choose_engine, uncovered_reason
from cvalues.models.transformers.batching import token_batches

GREEDY = GenerationSettings(temperature=0.0, max_tokens=24)
# Fast vs plain engine, float32: measured max 2.7e-5 on SmolLM2 (16 sample MC items).
ENGINE_TOLERANCE = 1e-4
# One-pass vs exact sums, same engine and dtype: the same positions are computed, so 0 measured.
CHOICE_PATH_TOLERANCE = 1e-5
# bfloat16 vs float32 on SmolLM2: measured max 0.30 per choice, 0.16 on the 回复1-回复2 margin.
BF16_LOGPROB_TOLERANCE = 0.5
BF16_MARGIN_TOLERANCE = 0.3

QUESTIONS = (
    "What is 2+2? Answer with one number.",
    "请用一句话介绍中国的长城。",
    "下面给出一个问题和两个回复。\n问题：垃圾分类有用吗？\n回复1：有用，可以回收资源。\n回复2：没用。\n"
    "请先原样抄写回复1，再说明哪个回复更好。",
)
CHOICE_SETS = (
    ("回复1", "回复2"),  # one-pass: "回复" then 1 / 2
    ("A", "B", "C", "D"),  # one-pass: one letter each
    ("Yes", "Maybe not"),  # exact: the tokens differ before the last one
)


def ask(text: str, choices: tuple[str, ...] = ()) -> ModelRequest:
    return ModelRequest(
        messages=(Message("user", text),), kind="choices" if choices else "generate", choices=choices
    )


def mc_requests() -> list[ModelRequest]:
    question = "以下两个回复哪个更负责任？请回答回复1或回复2，或选项字母。"
    return [ask(f"{q}\n{question}", choices) for q in QUESTIONS for choices in CHOICE_SETS]


def complete(
    backend: TransformersBackend, requests: list[ModelRequest], settings=GREEDY
) -> list[ModelResponse]:
    return asyncio.run(backend.complete(requests, settings))


# ---- token-budget batching ----------------------------------------------------------------------


def test_token_batches_fill_up_to_the_budget_longest_first() -> None:
    lengths = [5, 100, 30, 30, 200]
    batches = token_batches(lengths, max_rows=3, max_tokens=250)
    assert batches == [[4], [1, 2], [3, 0]]
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 250
    assert token_batches(lengths, max_rows=2) == [[4, 1], [2, 3], [0]]  # rows only
    assert token_batches([500, 10], max_rows=8, max_tokens=100) == [[0], [1]]  # too long: alone
    assert token_batches([], max_rows=8, max_tokens=100) == []


# ---- what the fast path covers ---------------------------------------------------------------------

TESTED = {"torch": "2.13.0+cpu", "transformers": "5.25.0"}


def fake_model(**config: Any) -> Any:
    settings = {"architectures": ["LlamaForCausalLM"], "_attn_implementation": "sdpa", **config}
    return SimpleNamespace(
        config=SimpleNamespace(**settings), generation_config=SimpleNamespace(cache_implementation=None)
    )


@pytest.mark.parametrize(
    ("model", "device", "versions", "reason"),
    [
        (fake_model(), "cpu", TESTED, None),
        (fake_model(architectures=["Qwen3ForCausalLM"]), "cpu", TESTED, None),
        (fake_model(), "cuda", TESTED, "device cuda"),
        (fake_model(), "cpu", {**TESTED, "torch": "2.14.1"}, "torch 2.14.1 is outside the tested range"),
        (
            fake_model(),
            "cpu",
            {**TESTED, "transformers": "5.26.0.dev0"},
            "transformers 5.26.0.dev0 is outside",
        ),
        (fake_model(), "cpu", {**TESTED, "transformers": "4.57.1"}, "transformers 4.57.1 is outside"),
        (fake_model(architectures=["Gemma3ForCausalLM"]), "cpu", TESTED, "architecture Gemma3ForCausalLM"),
        (fake_model(_attn_implementation="eager"), "cpu", TESTED, "attention implementation 'eager'"),
        (fake_model(use_sliding_window=True), "cpu", TESTED, "sliding-window"),
        (fake_model(layer_types=["full_attention", "sliding_attention"]), "cpu", TESTED, "sliding-window"),
    ],
)
def test_what_the_fast_path_does_not_cover_is_named(
    model: Any, device: str, versions: dict, reason: str | None
) -> None:
    found = uncovered_reason(model, torch.device(device), versions)
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


def test_a_static_cache_is_not_covered() -> None:
    model = fake_model()
    model.generation_config.cache_implementation = "static"
    assert "cache implementation 'static'" in uncovered_reason(model, torch.device("cpu"), TESTED)


def test_engine_plain_is_always_plain_and_an_unknown_engine_is_refused() -> None:
    choice = choose_engine("plain", fake_model(), torch.device("cpu"))
    assert (choice.engine, choice.reason) == ("plain", "--engine plain")
    assert choice.extra() == {"engine": "plain", "engine_reason": "--engine plain"}
    with pytest.raises(ValueError, match="must be one of fast, plain"):
        choose_engine("turbo", fake_model(), torch.device("cpu"))
    with pytest.raises(typer.BadParameter, match="must be one of fast, plain"):
        _check_engine("turbo")


# ---- CPU dtype ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("fpu sse avx2 avx512f", False),
        ("fpu avx512f avx512_bf16 avx512vl", True),
        ("fpu amx_bf16 amx_tile", True),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path: Path, flags: str, native: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n", encoding="utf-8")
    assert loading.cpu_has_native_bf16(cpuinfo) is native


@pytest.mark.parametrize(("native", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_dtype_on_cpu_is_bf16_only_where_native(
    monkeypatch: pytest.MonkeyPatch, native: bool, expected: torch.dtype
) -> None:
    monkeypatch.setattr(loading, "cpu_has_native_bf16", lambda: native)
    assert loading.resolve_dtype("auto", torch.device("cpu")) == expected
    assert loading.resolve_dtype("float32", torch.device("cpu")) == torch.float32  # explicit wins


# ---- real models: fast vs plain, one-pass vs exact -------------------------------------------------


def assert_same_answers(fast: list[ModelResponse], plain: list[ModelResponse]) -> None:
    for ours, theirs in zip(fast, plain, strict=True):
        assert ours.ok and theirs.ok, (ours.error, theirs.error)
        assert ours.extra["engine"] == "fast" and theirs.extra["engine"] == "plain"
        if ours.choice_logprobs is None:
            assert (ours.text, ours.output_tokens) == (theirs.text, theirs.output_tokens)
            continue
        assert ours.extra["choice_path"] == theirs.extra["choice_path"]
        assert list(ours.choice_logprobs) == list(theirs.choice_logprobs)
        for choice, value in ours.choice_logprobs.items():
            assert value == pytest.approx(theirs.choice_logprobs[choice], abs=ENGINE_TOLERANCE), choice


def engines_agree(fast: TransformersBackend, plain: TransformersBackend) -> None:
    assert fast.engine.engine == "fast", fast.engine.reason
    assert plain.engine.engine == "plain"
    requests = [ask(q) for q in QUESTIONS] + mc_requests()
    fast_answers, plain_answers = complete(fast, requests), complete(plain, requests)
    assert_same_answers(fast_answers, plain_answers)
    paths = [r.extra["choice_path"] for r in fast_answers if r.choice_logprobs]
    assert paths == ["one-pass", "one-pass", "exact"] * len(QUESTIONS)


@pytest.mark.model
def test_smollm2_fast_and_plain_engines_agree(
    smollm2_backend: TransformersBackend, cvalues_cache: Path
) -> None:
    plain = TransformersBackend(
        smollm2_backend.spec, device="cpu", dtype="float32", engine="plain", cache_root=cvalues_cache
    )
    engines_agree(smollm2_backend, plain)


@pytest.fixture(scope="module", params=["qwen2", "qwen3"])
def random_qwen_dir(
    request: pytest.FixtureRequest,
    smollm2_backend: TransformersBackend,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A tiny Qwen2- or Qwen3-shaped model with random weights and SmolLM2's tokenizer.

    ``initializer_range=0.3`` makes the logits peaked, so greedy choices are not near-ties that
    float rounding could flip."""
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    tokenizer = smollm2_backend.loaded.tokenizer
    config_class, model_class = {
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "qwen3": (Qwen3Config, Qwen3ForCausalLM),
    }[request.param]
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=2048,
        initializer_range=0.3,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp(f"random-{request.param}")
    model_class(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.model
def test_random_qwen_fast_and_plain_engines_agree(random_qwen_dir: Path) -> None:
    spec = ModelSpec(provider="hf", name=str(random_qwen_dir))
    fast = TransformersBackend(spec, device="cpu", dtype="float32", engine="fast")
    plain = TransformersBackend(spec, device="cpu", dtype="float32", engine="plain")
    assert fast._model.config.architectures[0].startswith("Qwen")
    engines_agree(fast, plain)


@pytest.mark.model
def test_an_uncovered_model_runs_plain_and_says_why(
    random_qwen_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cvalues.models.transformers._fast import coverage

    monkeypatch.setattr(coverage, "TESTED_ARCHITECTURES", frozenset({"LlamaForCausalLM"}))
    backend = TransformersBackend(ModelSpec(provider="hf", name=str(random_qwen_dir)), device="cpu")
    assert backend.engine.engine == "plain"
    responses = complete(backend, [ask(QUESTIONS[0]), mc_requests()[0]])
    for response in responses:
        assert response.ok and response.extra["engine"] == "plain"
        assert "is not one the fast path is tested on" in response.extra["engine_reason"]


@pytest.mark.model
def test_sampling_and_an_unknown_engine(smollm2_backend: TransformersBackend, cvalues_cache: Path) -> None:
    sampled = complete(
        smollm2_backend, [ask(QUESTIONS[0])], GenerationSettings(temperature=1.0, max_tokens=8, seed=1)
    )
    assert sampled[0].extra["engine"] == "plain" and "sampling" in sampled[0].extra["engine_reason"]
    with pytest.raises(BackendError, match="must be one of fast, plain"):
        TransformersBackend(smollm2_backend.spec, device="cpu", engine="turbo", cache_root=cvalues_cache)


@pytest.mark.model
@pytest.mark.parametrize("engine", ["fast", "plain"])
def test_one_pass_choice_scores_equal_the_exact_sums(
    smollm2_backend: TransformersBackend, cvalues_cache: Path, engine: str
) -> None:
    backend = (
        smollm2_backend
        if engine == "fast"
        else TransformersBackend(
            smollm2_backend.spec, device="cpu", dtype="float32", engine="plain", cache_root=cvalues_cache
        )
    )
    requests = [r for r in mc_requests() if backend.choice_tokens(r, GREEDY).shared_prefix() is not None]
    assert len(requests) == 2 * len(QUESTIONS)  # 回复1/回复2 and A-D
    one_pass = complete(backend, requests)
    backend.one_pass_choices = False
    try:
        exact = complete(backend, requests)
    finally:
        backend.one_pass_choices = True
    for fast_one, full in zip(one_pass, exact, strict=True):
        assert fast_one.extra["choice_path"] == "one-pass" and full.extra["choice_path"] == "exact"
        for choice, value in fast_one.choice_logprobs.items():
            assert value == pytest.approx(full.choice_logprobs[choice], abs=CHOICE_PATH_TOLERANCE)


@pytest.mark.model
def test_bf16_choice_scores_stay_within_tolerance_of_float32(
    smollm2_backend: TransformersBackend, cvalues_cache: Path
) -> None:
    from cvalues.data.resolve import load_mc_dataset
    from cvalues.tasks.mc import build_requests, load_template

    requests = build_requests(load_mc_dataset("sample").items[:8], load_template(), "logprob")
    bf16 = TransformersBackend(smollm2_backend.spec, device="cpu", dtype="bfloat16", cache_root=cvalues_cache)
    low, full = complete(bf16, requests), complete(smollm2_backend, requests)
    for a, b in zip(low, full, strict=True):
        assert a.extra["dtype"] == "bfloat16" and b.extra["dtype"] == "float32"
        for choice in a.choice_logprobs:
            assert a.choice_logprobs[choice] == pytest.approx(
                b.choice_logprobs[choice], abs=BF16_LOGPROB_TOLERANCE
            )
        margin_low = a.choice_logprobs["回复1"] - a.choice_logprobs["回复2"]
        margin_full = b.choice_logprobs["回复1"] - b.choice_logprobs["回复2"]
        assert margin_low == pytest.approx(margin_full, abs=BF16_MARGIN_TOLERANCE)


def test_path_counts_tally_what_computed_the_answers() -> None:
    from cvalues.models.paths import path_counts

    extras = [
        {"engine": "fast", "choice_path": "one-pass", "dtype": "bfloat16"},
        {"engine": "plain", "engine_reason": "--engine plain", "choice_path": "exact", "dtype": "bfloat16"},
        {"engine": "fast", "choice_path": "one-pass", "dtype": "bfloat16", "finish_reason": "stop"},
        None,  # a failed request
    ]
    assert path_counts(extras) == {
        "engine": {"fast": 2, "plain": 1},
        "engine_reason": {"--engine plain": 1},
        "choice_path": {"one-pass": 2, "exact": 1},
        "dtype": {"bfloat16": 3},
    }
