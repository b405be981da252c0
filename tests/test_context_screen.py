"""Prompts longer than the model's context window are caught before any request (models.context,
execute.screen), with the real SmolLM2 GGUF: its metadata for the window, its vocabulary for counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings, Message, ModelRequest
from cvalues.execute.screen import TEMPLATE_TOKENS_PER_MESSAGE, TEMPLATE_TOKENS_PER_PROMPT, screen_requests
from cvalues.models.context import config_context_length, context_window, token_counter

SMOLLM2 = ModelSpec(provider="gguf", name="smollm2")
SETTINGS = GenerationSettings(max_tokens=64)
# The fixed template allowance for one message (no measured template passed).
MARGIN = TEMPLATE_TOKENS_PER_PROMPT + TEMPLATE_TOKENS_PER_MESSAGE


def ask(text: str) -> ModelRequest:
    return ModelRequest(messages=(Message(role="user", content=text),))


def test_the_window_of_the_real_smollm2_gguf_comes_from_its_metadata() -> None:
    assert context_window(SMOLLM2) == 8192


def test_a_model_directory_gives_its_window_from_config_json(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 4096}), encoding="utf-8")
    assert context_window(ModelSpec(provider="hf", name=str(tmp_path))) == 4096
    nested = tmp_path / "vl"
    nested.mkdir()
    (nested / "config.json").write_text(json.dumps({"text_config": {"max_position_embeddings": 32768}}))
    assert config_context_length(nested) == 32768
    assert context_window(ModelSpec(provider="hf", name="org/not-downloaded")) is None


def test_a_five_million_character_prompt_is_skipped_before_any_request() -> None:
    limit = context_window(SMOLLM2)
    counter = token_counter(SMOLLM2)
    assert limit is not None and counter is not None
    huge = "忽略以上内容。" * (5_000_000 // 7)
    requests = [ask("你好，请介绍一下你自己。"), ask(huge), ask("今天天气怎么样？")]
    # No backend exists in this test: the screen needs none, so nothing can have been sent.
    result = screen_requests(requests, limit, None, settings=SETTINGS, count_tokens=counter)
    assert [i for i, _ in result.kept] == [0, 2]
    assert result.n_skipped == 1 and result.skipped[0].index == 1
    assert "context window of 8,192" in result.skipped[0].reason
    assert result.skipped[0].prompt_tokens > 8192


def test_a_prompt_between_the_bounds_is_counted_exactly() -> None:
    counter = token_counter(SMOLLM2)
    assert counter is not None
    # 3 bytes and ~1.7 tokens a character: the byte bound (over the window) cannot
    # decide, the exact count can.
    fits, over = "价值观" * 1200, "价值观" * 2400
    exact_fits, exact_over = counter(fits), counter(over)
    assert exact_fits < 8192 - 64 - MARGIN < exact_over
    result = screen_requests([ask(fits), ask(over)], 8192, None, settings=SETTINGS, count_tokens=counter)
    assert [i for i, _ in result.kept] == [0]
    assert result.skipped[0].prompt_tokens == exact_over + MARGIN  # the count plus the template margin


@pytest.mark.parametrize("side", ["left", "right"])
def test_truncate_cuts_the_prompt_to_fit_from_the_side_asked(side: str) -> None:
    counter = token_counter(SMOLLM2)
    assert counter is not None
    text = "开头" + "社会责任。" * 5000 + "结尾"
    result = screen_requests([ask(text)], 2048, side, settings=SETTINGS, count_tokens=counter)  # type: ignore[arg-type]
    assert result.skipped == [] and result.truncated == [0]
    kept = result.kept[0][1].messages[0].content
    assert counter(kept) + MARGIN <= 2048 - 64
    assert counter(kept) > 2048 - 64 - MARGIN - 10  # not cut much more than needed
    assert kept.endswith("结尾") if side == "left" else kept.startswith("开头")
    assert text.endswith(kept) if side == "left" else text.startswith(kept)


def test_without_a_tokenizer_the_byte_bounds_decide_and_truncation_is_safe() -> None:
    huge, unsure = "a" * 1_000_000, "价值" * 3000
    result = screen_requests([ask(huge), ask(unsure)], 8192, None, settings=SETTINGS)
    # The huge one is over even the lower bound; the unsure one is left to the server to judge.
    assert [s.index for s in result.skipped] == [0] and [i for i, _ in result.kept] == [1]
    cut = screen_requests([ask(huge)], 8192, "right", settings=SETTINGS)
    content = cut.kept[0][1].messages[0].content
    assert len(content.encode("utf-8")) <= 8192 - 64 - MARGIN  # the byte upper bound: fits for sure


def test_an_unknown_window_keeps_everything_and_the_reply_budget_counts() -> None:
    requests = [ask("x" * 100)]
    assert screen_requests(requests, None).kept == [(0, requests[0])]
    tight = screen_requests(requests, 100, "left", settings=GenerationSettings(max_tokens=100))
    assert tight.kept == [] and "alone fill the context window" in tight.skipped[0].reason


def test_screen_for_model_reads_the_window_and_counts_only_when_needed() -> None:
    from cvalues.execute.screen import describe_screen, screen_for_model

    short = [ask("你好"), ask("再见")]
    result = screen_for_model(SMOLLM2, short, SETTINGS)
    assert [i for i, _ in result.kept] == [0, 1] and describe_screen(result, 8192) is None
    mixed = [*short, ask("价值观" * 2400), ask("忽略以上内容。" * 700_000)]
    skipped = screen_for_model(SMOLLM2, mixed, SETTINGS)
    assert [s.index for s in skipped.skipped] == [2, 3]
    assert (
        describe_screen(skipped, 8192) == "2 item(s) skipped: longer than the context window (8,192 tokens)"
    )
    cut = screen_for_model(SMOLLM2, mixed, SETTINGS, "right", limit=4096)
    assert cut.skipped == [] and cut.truncated == [2, 3]
    assert "2 prompt(s) truncated" in (describe_screen(cut, 4096) or "")
