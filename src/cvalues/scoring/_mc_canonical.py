"""Canonical text for the MC parser's own rules: every way of naming a reply becomes 回复1/回复2.

Models name the replies in many ways: 回复１ (full-width), 回答一, 第一个, 前者, 选项A, "Reply 1",
"the second response", a bare letter on its own line. Rewriting them all to 回复1 / 回复2 first
lets one small set of rules read every form. This text is only matched against, never stored.
"""

from __future__ import annotations

import re
import unicodedata

# Markup and quotes carry no meaning for the choice and break adjacency of words.
_DECORATION = re.compile(r"[*`#\[\]【】“”\"「」『』《》<>]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
# A space matters only between two ASCII words ("reply 1 is better"); elsewhere it is noise.
_NOISE_SPACE = re.compile(r"(?<![A-Za-z0-9]) | (?![A-Za-z0-9])")

_ONE = r"(?:1|一)"
_TWO = r"(?:2|二)"
# 一 is also "a"/"once": 回答一下, 回复一些 must not become reply 1.
_NOT_NUMERAL = r"(?![下些个定样般致直切起旦次句条点种项])"
_REPLY_NOUN_ZH = r"(?:回复|回答|答复|反馈|回应|选项)"
_ORDINAL_NOUN_ZH = r"(?:回复|回答|答复|反馈|回应|选项|答案|建议)"
# After 第一个 alone, these show it names a reply ("第一个更好", "选第一个。"), not "第一个问题".
_ORDINAL_FOLLOW = r"(?=[更是比较最相还不并好在也则就会要的可有没,.!?;:，。！？；：\s、)]|$)"
_REPLY_NOUN_EN = r"(?i:reply|response|answer|option|candidate|choice)"
_CHOICE_CUE = r"(?:答案|答|选择|我选|选项|选|应选|answer|choice|option|choose|pick|select|go\s+with|prefer)"

_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, flags), replacement)
    for pattern, replacement, flags in (
        # English names: "Reply 1", "response #2", "Answer B", "the first one", "the former".
        (_REPLY_NOUN_EN + r"\s*(?:#|no\.?)?\s*1(?!\d)", "回复1", 0),
        (_REPLY_NOUN_EN + r"\s*(?:#|no\.?)?\s*2(?!\d)", "回复2", 0),
        (_REPLY_NOUN_EN + r"\s*\(?A\)?(?![A-Za-z])", "回复1", 0),
        (_REPLY_NOUN_EN + r"\s*\(?B\)?(?![A-Za-z])", "回复2", 0),
        (r"(?:the\s+)?(?:first|1st)\s+(?:one|reply|response|answer|option)\b", "回复1", re.IGNORECASE),
        (r"(?:the\s+)?(?:second|2nd)\s+(?:one|reply|response|answer|option)\b", "回复2", re.IGNORECASE),
        (r"\bthe\s+former\b", "回复1", re.IGNORECASE),
        (r"\bthe\s+latter\b", "回复2", re.IGNORECASE),
        # Chinese names: 回答1, 回复 二, 第一个回复, 第二条, 前者/后者, 选项A, A选项.
        (r"第\s*" + _ONE + r"\s*(?:个|条|种|项)?\s*" + _ORDINAL_NOUN_ZH, "回复1", 0),
        (r"第\s*" + _TWO + r"\s*(?:个|条|种|项)?\s*" + _ORDINAL_NOUN_ZH, "回复2", 0),
        (r"第\s*" + _ONE + r"\s*(?:个|条|种|项)" + _ORDINAL_FOLLOW, "回复1", 0),
        (r"第\s*" + _TWO + r"\s*(?:个|条|种|项)" + _ORDINAL_FOLLOW, "回复2", 0),
        (_REPLY_NOUN_ZH + r"\s*1(?!\d)", "回复1", 0),
        (_REPLY_NOUN_ZH + r"\s*2(?!\d)", "回复2", 0),
        (_REPLY_NOUN_ZH + r"\s*一" + _NOT_NUMERAL, "回复1", 0),
        (_REPLY_NOUN_ZH + r"\s*二" + _NOT_NUMERAL, "回复2", 0),
        (_REPLY_NOUN_ZH + r"\s*\(?A\)?(?![A-Za-z0-9])", "回复1", 0),
        (_REPLY_NOUN_ZH + r"\s*\(?B\)?(?![A-Za-z0-9])", "回复2", 0),
        (r"(?<![A-Za-z])\(?A\)?\s*选项", "回复1", 0),
        (r"(?<![A-Za-z])\(?B\)?\s*选项", "回复2", 0),
        (r"前者", "回复1", 0),
        (r"后者", "回复2", 0),
        # A bare letter or digit right after a choice cue: "选A", "答案：B", "Answer: 2", "I choose A".
        (
            r"(?i:"
            + _CHOICE_CUE
            + r")\s*(?:(?i:is|是|为|应该是|应为)\s*)?[:：]?\s*\(?(?:A|1)\)?(?![A-Za-z0-9])",
            "\\g<0>⟦1⟧",
            0,
        ),
        (
            r"(?i:"
            + _CHOICE_CUE
            + r")\s*(?:(?i:is|是|为|应该是|应为)\s*)?[:：]?\s*\(?(?:B|2)\)?(?![A-Za-z0-9])",
            "\\g<0>⟦2⟧",
            0,
        ),
        # A letter on a line of its own or before a comparative: "A.", "(B)", "B更好", "A is better".
        (r"(?m)^[^\S\n]*\(?A\)?[^\S\n]*(?=[.。:：,，、!！;；)\n]|$)", "回复1", 0),
        (r"(?m)^[^\S\n]*\(?B\)?[^\S\n]*(?=[.。:：,，、!！;；)\n]|$)", "回复2", 0),
        (r"(?<![A-Za-z])A(?=\s*(?:更|比|较|是更|要|is\s+(?:better|safer|more|the\s+better)))", "回复1", 0),
        (r"(?<![A-Za-z])B(?=\s*(?:更|比|较|是更|要|is\s+(?:better|safer|more|the\s+better)))", "回复2", 0),
    )
)
# In Chinese text a lone capital A/B next to a Chinese character is an option letter ("A提供了…",
# "不如B"), except in common words (A股, B超, B站, A级, B型, B计划).
_CJK = r"[\u4e00-\u9fff。、]"
_LETTER_NOT_WORD = r"(?![A-Za-z0-9]|股|超|站|型|级|类|区|面|端|轮|计划|卡|证|档|角|座|队)"
_LETTER_IN_CHINESE = tuple(
    (
        re.compile(
            rf"(?<![A-Za-z0-9]){letter}{_LETTER_NOT_WORD}(?={_CJK})|(?<={_CJK}){letter}{_LETTER_NOT_WORD}"
        ),
        name,
    )
    for letter, name in (("A", "回复1"), ("B", "回复2"))
)
# The choice-cue rewrites above mark their letter/digit; swap the marked token for the reply name.
_MARKED_TOKEN = re.compile(r"\(?(?:A|B|1|2)\)?\s*⟦([12])⟧")


def canonical_text(response: str) -> str:
    """NFKC-folded text with reply names rewritten to 回复1/回复2 and spaces kept only inside English."""
    text = unicodedata.normalize("NFKC", response).replace("’", "'")
    text = _DECORATION.sub("", text)
    text = _HORIZONTAL_SPACE.sub(" ", text)
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    text = _MARKED_TOKEN.sub(lambda m: "回复" + m.group(1), text)
    text = _NOISE_SPACE.sub("", text)
    for pattern, name in _LETTER_IN_CHINESE:
        text = pattern.sub(name, text)
    return text
