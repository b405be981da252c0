"""Scoring choices from greedy tokens and top log-probabilities, and the shared chat helpers."""

from __future__ import annotations

import math

from cvalues.execute.requests import GenerationSettings, Message, ModelRequest
from cvalues.models.chat import chat_messages, plain_chat_prompt, tokenize_choices
from cvalues.models.logprob_walk import TokenLogprob, score_choice, score_choices, token_bytes


def tok(text: str | bytes, logprob: float, *top: tuple[str | bytes, float]) -> TokenLogprob:
    as_bytes = lambda t: t if isinstance(t, bytes) else t.encode("utf-8")  # noqa: E731
    return TokenLogprob(as_bytes(text), logprob, tuple((as_bytes(t), lp) for t, lp in top))


# "回复1" as a byte-level tokenizer splits it: 回 | first two bytes of 复 | last byte of 复 | 1
HUI, FU_HEAD, FU_TAIL = "回".encode(), "复".encode()[:2], "复".encode()[2:]
GREEDY_REPLY_1 = [
    tok(HUI, -0.1, (HUI, -0.1), ("I", -3.0)),
    tok(FU_HEAD, -0.2, (FU_HEAD, -0.2)),
    tok(FU_TAIL, -0.05, (FU_TAIL, -0.05)),
    tok("1", -0.5, ("1", -0.5), ("2", -1.5), ("", -4.0)),
    tok("。", -0.3, ("。", -0.3)),
]


def test_greedy_tokens_then_the_diverging_alternative() -> None:
    assert score_choice(GREEDY_REPLY_1, "回复1").logprob == -0.1 - 0.2 - 0.05 - 0.5
    second = score_choice(GREEDY_REPLY_1, "回复2")
    assert second.status == "complete"
    assert second.logprob == -0.1 - 0.2 - 0.05 - 1.5


def test_choice_ending_inside_a_greedy_token_is_complete() -> None:
    tokens = [tok("Yes", -0.4, ("Yes", -0.4), ("No", -1.2))]
    assert score_choice(tokens, "Ye").logprob == -0.4
    assert score_choice(tokens, "No").logprob == -1.2


def test_alternative_covering_part_of_the_choice_is_partial() -> None:
    tokens = [tok("Yes", -0.4, ("Yes", -0.4), ("Lon", -2.0), ("L", -2.5))]
    score = score_choice(tokens, "London")
    assert score.status == "partial"
    assert score.logprob == -2.0  # the best alternative that continues the choice


def test_unreachable_choices_score_minus_infinity_and_are_named() -> None:
    scores, extra = score_choices(GREEDY_REPLY_1, ["回复1", "回复3", "Zebra", "回复1。还有"])
    assert scores["回复3"] == -math.inf and scores["Zebra"] == -math.inf
    # The greedy tokens run out before the choice does.
    assert scores["回复1。还有"] == -math.inf
    assert extra == {"unreachable": ["回复3", "Zebra", "回复1。还有"]}
    assert math.isfinite(scores["回复1"])


def test_empty_alternatives_never_match() -> None:
    tokens = [tok("", -0.1, ("", -0.1), ("Ok", -3.0))]
    assert score_choice(tokens, "No").status == "unreachable"
    assert score_choice(tokens, "Ok").logprob == -3.0


def test_token_bytes_prefers_the_raw_bytes() -> None:
    assert token_bytes("", [229, 164]) == FU_HEAD
    assert token_bytes("回", None) == HUI


def test_system_prompt_goes_first_unless_the_request_has_one() -> None:
    settings = GenerationSettings(system_prompt="你是一个安全的助手。")
    user_only = ModelRequest(messages=(Message("user", "你好"),))
    assert chat_messages(user_only, settings) == [
        {"role": "system", "content": "你是一个安全的助手。"},
        {"role": "user", "content": "你好"},
    ]
    own_system = ModelRequest(messages=(Message("system", "自己的"), Message("user", "你好")))
    assert chat_messages(own_system, settings)[0] == {"role": "system", "content": "自己的"}
    assert len(chat_messages(own_system, settings)) == 2
    assert chat_messages(user_only, GenerationSettings()) == [{"role": "user", "content": "你好"}]


def test_plain_prompt_for_models_without_a_chat_template() -> None:
    messages = [{"role": "system", "content": "简短回答。"}, {"role": "user", "content": "天空是什么颜色？"}]
    assert plain_chat_prompt(messages) == "System: 简短回答。\nUser: 天空是什么颜色？\nAssistant:"


def test_choice_tokens_follow_the_prompt_tokens_and_detect_a_merged_boundary() -> None:
    # A toy tokenizer: one token per character, except that ":Y" merges into one token.
    vocab: dict[str, int] = {}

    def encode(text: str) -> list[int]:
        pieces, i = [], 0
        while i < len(text):
            piece = text[i : i + 2] if text[i : i + 2] == ":Y" else text[i]
            pieces.append(vocab.setdefault(piece, len(vocab)))
            i += len(piece)
        return pieces

    plan = tokenize_choices(encode, encode, "A:", ["No", "Yes"])
    assert plan.continuations[0] == encode("No")
    assert plan.boundary_merged == ["Yes"]  # "A:Yes" tokenizes as A | :Y | e | s
    assert plan.continuations[1] == encode("Yes")
    assert plan.shared_prefix() is None
    same_but_last = tokenize_choices(encode, encode, "Q ", ["ab1", "ab2"])
    assert same_but_last.shared_prefix() == encode("ab")
