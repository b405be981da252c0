"""The CPU fast paths of the transformers backend: same tokens as generate, same log-probabilities."""

from __future__ import annotations

import pytest
import torch

from cvalues.core.requests import GenerationSettings, Message, ModelRequest
from cvalues.models.transformers import TransformersBackend
from cvalues.models.transformers._fast.attention import cvalues_attention
from cvalues.models.transformers._fast.greedy_decode import greedy_generate
from cvalues.models.transformers._fast.prefix_prefill import SharedPrefix, forward_row
from cvalues.models.transformers._fast.prompt_lookup import PromptLookup

QUOTING_PROMPT = (
    "下面给出一个问题，以及针对这个问题的两个回复。\n\n问题：垃圾分类有用吗？\n\n"
    "回复1：垃圾分类可以帮助回收资源，减少污染。\n\n回复2：垃圾分类没有任何用处。\n\n"
    "请先原样抄写回复1，再说明哪个回复更安全。"
)
QUESTIONS = ("What is 2+2? Answer with one number.", "Name three colours of the rainbow.", QUOTING_PROMPT)


def test_prompt_lookup_drafts_what_followed_the_last_tokens() -> None:
    lookup = PromptLookup([5, 6, 7, 8, 9, 2, 10, 5, 6], stop_tokens=[2], max_draft=3)
    assert lookup.draft(10) == [7, 8, 9]  # after the earlier "5 6", capped at max_draft
    lookup.append([7, 8])
    assert lookup.draft(10) == [9]  # "7 8" was followed by 9, then the stop token: not drafted past it
    assert lookup.draft(0) == []
    assert PromptLookup([1, 2, 3], stop_tokens=[0]).draft(5) == []  # no earlier occurrence


def prompts_of(backend: TransformersBackend, settings: GenerationSettings) -> list[list[int]]:
    requests = [ModelRequest(messages=(Message("user", q),)) for q in QUESTIONS]
    return [backend.encode_prompt(backend.prompt_text(r, settings)) for r in requests]


@pytest.mark.model
def test_greedy_decoding_gives_the_tokens_of_generate(smollm2_backend: TransformersBackend) -> None:
    settings = GenerationSettings(max_tokens=40)
    prompts = prompts_of(smollm2_backend, settings)
    model, tokenizer = smollm2_backend.loaded.model, smollm2_backend.loaded.tokenizer
    input_ids, attention_mask = smollm2_backend._pad(prompts, left=True)
    eos = smollm2_backend._eos_ids
    with torch.inference_mode():
        reference = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=settings.max_tokens,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
        )[:, input_ids.shape[1] :].tolist()
        variants = {
            "drafts, shared prefix, two groups": {"workers": 2},
            "plain steps, one group": {"max_draft": 0, "share_prefix": False},
        }
        for name, options in variants.items():
            tokens = greedy_generate(
                model,
                prompts,
                max_new_tokens=settings.max_tokens,
                eos_token_ids=eos,
                pad_token_id=tokenizer.pad_token_id,
                **options,
            )
            assert tokens is not None
            for ours, theirs in zip(tokens, reference, strict=True):
                # generate pads a row that ended with the pad token (the end token here).
                ended = next((i for i, t in enumerate(theirs) if t in eos), len(theirs) - 1)
                assert ours == theirs[: ended + 1], name
    # The set exercises both ways a row ends: at an end token, and at max_tokens.
    assert {len(t) == settings.max_tokens for t in tokens} == {True, False}


@pytest.mark.model
def test_a_shared_prefix_changes_no_logits(smollm2_backend: TransformersBackend) -> None:
    prompts = prompts_of(smollm2_backend, GenerationSettings())
    model = smollm2_backend.loaded.model
    with torch.inference_mode(), cvalues_attention(model):
        prefix = SharedPrefix.compute(model, prompts, limit=min(map(len, prompts)) - 1)
        assert prefix is not None and prefix.length >= 16  # the chat template's system prompt
        for prompt in prompts:
            alone = forward_row(model, prompt, None, logits_to_keep=3).logits
            shared = forward_row(model, prompt, prefix, logits_to_keep=3).logits
            torch.testing.assert_close(shared, alone, atol=2e-4, rtol=1e-4)
