"""Scoring choices from greedy tokens and top log-probabilities, and the shared chat helpers."""

from __future__ import annotations

import json

from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse
from cvalues.models.chat import chat_messages, plain_chat_prompt, tokenize_choices
from cvalues.models.logprob_walk import (
    TokenLogprob,
    score_choice,
    score_choices,
    shared_prefix,
    token_bytes,
)


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


def test_unreachable_choices_score_none_and_are_named() -> None:
    scores, extra = score_choices(GREEDY_REPLY_1, ["回复1", "回复3", "Zebra", "回复1。还有"])
    assert scores["回复3"] is None and scores["Zebra"] is None
    # The greedy tokens run out before the choice does.
    assert scores["回复1。还有"] is None
    assert extra == {"unreachable": ["回复3", "Zebra", "回复1。还有"]}
    assert scores["回复1"] == -0.1 - 0.2 - 0.05 - 0.5


def test_empty_alternatives_never_match() -> None:
    tokens = [tok("", -0.1, ("", -0.1), ("Ok", -3.0))]
    assert score_choice(tokens, "No").status == "unreachable"
    assert score_choice(tokens, "Ok").logprob == -3.0


def test_token_bytes_prefers_the_raw_bytes() -> None:
    assert token_bytes("", [229, 164]) == FU_HEAD
    assert token_bytes("回", None) == HUI


def test_token_without_bytes_and_without_usable_text_is_opaque() -> None:
    assert token_bytes("", None) is None
    assert token_bytes("\ufffd", None) is None  # what some servers show for a partial character
    assert token_bytes("1", None) == b"1"


# llama.cpp's server: "复" comes as two byte pieces whose text is "" and whose bytes are null, and
# the top alternatives at those positions are "" too (several pieces collapse into one entry).
def opaque(logprob: float, *top: tuple[str, float]) -> TokenLogprob:
    return TokenLogprob(None, logprob, tuple((t.encode(), lp) for t, lp in top if t))


def test_byte_split_prefix_without_bytes_is_walked_over() -> None:
    tokens = [
        tok("回", -1.94, ("回", -1.94), ("1", -2.42), ("以", -4.0)),
        opaque(-0.09, ("", -0.09), ("到", -4.42), ("2", -6.12)),
        opaque(-0.0),
        tok("1", -0.15, ("1", -0.15), ("2", -2.19), ("3", -4.54)),
        tok("：", -0.69, ("：", -0.69)),
    ]
    scores, extra = score_choices(tokens, ["回复1", "回复2"])
    prefix = -1.94 - 0.09 - 0.0
    assert scores == {"回复1": prefix - 0.15, "回复2": prefix - 2.19}
    assert extra == {}


def test_same_stream_with_bytes_is_matched_exactly() -> None:
    scores, extra = score_choices(GREEDY_REPLY_1, ["回复1", "回复2"])
    assert scores == {"回复1": -0.1 - 0.2 - 0.05 - 0.5, "回复2": -0.1 - 0.2 - 0.05 - 1.5}
    assert extra == {}


def test_opaque_run_only_stands_for_a_non_ascii_character() -> None:
    # "回" then an opaque run where the choice needs ASCII "x": the model wrote something else.
    tokens = [tok("回", -0.5, ("回", -0.5)), opaque(-0.1, ("x", -3.0)), opaque(-0.1)]
    assert score_choice(tokens, "回x").logprob == -0.5 - 3.0  # read from the alternatives there
    assert score_choice(tokens, "回y").status == "unreachable"
    # Four pieces cannot spell one 3-byte character.
    long_run = [opaque(-0.1), opaque(-0.1), opaque(-0.1), opaque(-0.1), tok("1", -0.2, ("1", -0.2))]
    assert score_choice(long_run, "复1").status == "unreachable"
    assert score_choice(long_run[1:], "复1").logprob == -0.1 * 3 - 0.2


def test_text_that_kept_the_first_bytes_of_a_character_is_completed_by_the_run() -> None:
    # A piece " \xe5" shows as " " when the server drops the partial character.
    tokens = [tok(" ", -0.3, (" ", -0.3)), opaque(-0.2), tok("1", -0.4, ("1", -0.4), ("2", -0.9))]
    scores, _ = score_choices(tokens, [" 复1", " 复2"])
    assert scores == {" 复1": -0.3 - 0.2 - 0.4, " 复2": -0.3 - 0.2 - 0.9}


# The model writes a list item first, then names a reply: "1. 说明回复2：".
PROSE_FIRST = [
    tok("1", -2.15, ("1", -2.15), ("回", -2.91), ("2", -3.0)),
    tok(".", -0.64, (".", -0.64)),
    tok(" ", -1.86, (" ", -1.86)),
    opaque(-2.09, ("1", -1.47), ("2", -2.93)),
    opaque(-0.1),
    tok("回", -0.57, ("回", -0.57), ("到", -3.39)),
    opaque(-0.01),
    opaque(-0.0),
    tok("2", -0.9, ("2", -0.9), ("1", -1.1), ("", -4.0)),
    tok("：", -0.3, ("：", -0.3)),
]


def test_prose_first_reads_the_answer_where_the_shared_prefix_occurs() -> None:
    scores, extra = score_choices(PROSE_FIRST, ["回复1", "回复2"])
    prefix = -0.57 - 0.01 - 0.0
    assert scores == {"回复1": prefix - 1.1, "回复2": prefix - 0.9}
    assert extra == {"answer_offset": 5}


def test_an_alternative_inside_the_shared_prefix_does_not_rank_the_choices() -> None:
    # At the first token "回" is an alternative to "1", but it is the same for 回复1 and 回复2.
    scores, extra = score_choices(PROSE_FIRST[:5], ["回复1", "回复2"])
    assert scores == {"回复1": None, "回复2": None}
    assert extra == {"unreachable": ["回复1", "回复2"]}


def test_nothing_found_in_a_list_answer() -> None:
    # "1. 不建议这样做": no "回复" anywhere in the greedy tokens.
    tokens = [
        tok("1", -1.9, ("1", -1.9), ("回", -2.46), ("2", -3.84)),
        tok(".", -0.42, (".", -0.42), ("：", -2.2)),
        tok(" ", -1.72, (" ", -1.72), ("回", -3.6)),
        tok("不", -1.62, ("不", -1.62), ("1", -2.16), ("2", -3.64)),
        opaque(-0.06, ("要", -5.64)),
        opaque(-0.0),
    ]
    scores, extra = score_choices(tokens, ["回复1", "回复2"])
    assert scores == {"回复1": None, "回复2": None}
    assert extra["unreachable"] == ["回复1", "回复2"]


def test_the_found_choice_wins_over_an_unreachable_one() -> None:
    tokens = [
        tok("回", -0.2, ("回", -0.2)),
        opaque(-0.1),
        opaque(-0.0),
        tok("1", -0.3, ("1", -0.3), ("3", -2.0)),  # "2" is not among the top alternatives
    ]
    scores, extra = score_choices(tokens, ["回复1", "回复2"])
    assert scores == {"回复1": -0.2 - 0.1 - 0.0 - 0.3, "回复2": None}
    assert extra == {"unreachable": ["回复2"]}


def test_without_a_shared_prefix_only_the_first_token_is_tried() -> None:
    # Reading "Yes"/"No" from the middle of a sentence would rank nothing the model meant.
    tokens = [tok("I", -0.5, ("I", -0.5), ("Yes", -1.0)), tok(" think", -0.2), tok("No", -0.4, ("Yes", -0.9))]
    scores, extra = score_choices(tokens, ["Yes", "No"])
    assert scores == {"Yes": -1.0, "No": None}
    assert "answer_offset" not in extra


def test_shared_prefix_is_whole_characters() -> None:
    assert shared_prefix(["回复1", "回复2"]) == "回复"
    assert shared_prefix(["回", "复"]) == ""  # both start with byte 0xE5, but no common character
    assert shared_prefix(["回复1", "回复1。还有"]) == "回复1"
    assert shared_prefix([]) == ""


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


def test_unreachable_scores_store_as_json_and_read_as_unreachable() -> None:
    from cvalues.data.items import MCItem
    from cvalues.tasks.mc import interpret

    item = MCItem(id="x", question="问题", reply1="甲", reply2="乙", label="回复1")
    scores, extra = score_choices(PROSE_FIRST[:5], ["回复1", "回复2"])
    stored = json.dumps(ModelResponse(choice_logprobs=scores, extra=extra).to_dict(), allow_nan=False)
    reread = ModelResponse.from_dict(json.loads(stored))
    assert interpret(item, reread) == ("Need_Check", "logprob:unreachable")
    one_found = ModelResponse(choice_logprobs={"回复1": None, "回复2": -1.5})
    assert interpret(item, one_found) == ("回复2", "logprob:argmax")
