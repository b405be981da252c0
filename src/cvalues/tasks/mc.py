"""The multi-choice task: build one request per item, interpret each answer.

The task never calls a model: it hands requests to the executor and reads back responses.
"""

from __future__ import annotations

import hashlib
import math
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from cvalues.core.errors import InputError
from cvalues.core.requests import Message, ModelRequest, ModelResponse, RequestKind
from cvalues.data.items import ItemKind, MCItem
from cvalues.scoring.letter_parser import parse_letter_answer
from cvalues.scoring.mc_parser import PARSERS, ParsedAnswer, parse_mc_answer
from cvalues.scoring.metrics import ScoredSample
from cvalues.scoring.reasoning import split_reasoning

Mode = Literal["generate", "logprob"]
MODES: tuple[Mode, ...] = ("generate", "logprob")
TEMPLATE_FIELDS = frozenset({"question", "reply1", "reply2"})
# Lettered items: {question} and {options} are required, {context} optional.
LETTER_TEMPLATE_FIELDS = frozenset({"question", "options"})
LETTER_TEMPLATE_OPTIONAL = frozenset({"context"})
BUILTIN_TEMPLATES = ("mc_zh", "mc_en", "mc_letters_zh")
# The built-in template each kind of item gets when --template is not given.
DEFAULT_TEMPLATE: dict[ItemKind, str] = {"replies": "mc_zh", "letters": "mc_letters_zh"}


def options_block(item: MCItem) -> str:
    """``A. text`` lines, one per option, as the lettered template's {options}."""
    return "\n".join(f"{letter}. {text}" for letter, text in zip(item.letters, item.options, strict=True))


@dataclass(frozen=True)
class Template:
    """A prompt template, where it came from (recorded in results.json), and the kind of item it renders."""

    text: str
    source: str
    kind: ItemKind = "replies"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def render(self, item: MCItem) -> str:
        if item.kind != self.kind:
            raise InputError(
                f"template {self.source} is for {self.kind} items, but item {item.id!r} has "
                f"{'lettered options' if item.kind == 'letters' else 'replies 回复1/回复2'}",
                flag="--template",
            )
        if item.kind == "replies":
            return self.text.format(question=item.question, reply1=item.reply1, reply2=item.reply2)
        question, context = item.question, ""
        if item.context is not None:
            if "{context}" in self.text:
                context = item.context + "\n\n"
            else:  # a template without a place for it still shows it: before the question
                question = f"{item.context}\n{item.question}"
        return self.text.format(question=question, options=options_block(item), context=context)


def _check_template(text: str, source: str) -> Template:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:  # a lone "{" or "}" in the file
        raise InputError(
            f"template is not a valid format string ({exc}); write literal braces as {{{{ }}}}", path=source
        ) from exc
    # {options} says the template is for lettered items; otherwise it is a 回复1/回复2 template.
    kind: ItemKind = "letters" if "options" in fields else "replies"
    required = LETTER_TEMPLATE_FIELDS if kind == "letters" else TEMPLATE_FIELDS
    allowed = required | (LETTER_TEMPLATE_OPTIONAL if kind == "letters" else frozenset())
    unknown = fields - allowed
    if unknown:
        raise InputError(
            f"template uses unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}",
            path=source,
        )
    missing = required - fields
    if missing:
        raise InputError(f"template lacks placeholder(s) {sorted(missing)}", path=source)
    return Template(text=text, source=source, kind=kind)


def load_template(
    path: str | Path | None = None, *, builtin: str | None = None, kind: ItemKind | None = None
) -> Template:
    """The ``--template`` file, or a built-in one (``mc_zh`` default, ``mc_en``, ``mc_letters_zh``).

    ``kind`` is the kind of the items to render: without a file or builtin name it picks the
    default template of that kind, and a template of the other kind is refused (``--template``).
    """
    if path is None:
        if builtin is None:
            builtin = DEFAULT_TEMPLATE[kind or "replies"]
        if builtin not in BUILTIN_TEMPLATES:
            raise InputError(f"unknown built-in template {builtin!r}; choose from {BUILTIN_TEMPLATES}")
        text = resources.files("cvalues.tasks").joinpath("templates", f"{builtin}.txt").read_text("utf-8")
        return _for_kind(_check_template(text, f"builtin:{builtin}"), kind)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError("template file not found", path=file) from exc
    except UnicodeDecodeError as exc:
        raise InputError("template is not UTF-8 text", path=file) from exc
    except OSError as exc:
        raise InputError(f"cannot read template ({exc.strerror})", path=file) from exc
    if not text.strip():
        raise InputError("template is empty", path=file)
    return _for_kind(_check_template(text, str(file)), kind)


def _for_kind(template: Template, kind: ItemKind | None) -> Template:
    if kind is not None and template.kind != kind:
        wanted = (
            "{question} and {options} ({context} optional)"
            if kind == "letters"
            else ("{question}, {reply1} and {reply2}")
        )
        raise InputError(
            f"template {template.source} is for {template.kind} items but the dataset's items are "
            f"{kind}; a template for them uses {wanted}",
            flag="--template",
        )
    return template


def dataset_kind(items: list[MCItem]) -> ItemKind:
    """The one kind of a dataset's items (every loader makes one kind per file)."""
    kinds = {item.kind for item in items}
    if len(kinds) > 1:
        raise InputError("the dataset mixes lettered items and 回复1/回复2 items; split it into two files")
    return kinds.pop() if kinds else "replies"


def prompt_for(item: MCItem, template: Template) -> str:
    """The authors' prompt verbatim when the item carries one; otherwise the template."""
    return item.prompt if item.prompt is not None else template.render(item)


def build_requests(items: list[MCItem], template: Template, mode: Mode) -> list[ModelRequest]:
    """One request per item; in logprob mode the choices are the item's answers (回复1/回复2 or letters)."""
    kind: RequestKind = "generate" if mode == "generate" else "choices"
    return [
        ModelRequest(
            messages=(Message("user", prompt_for(item, template)),),
            kind=kind,
            choices=item.letters if mode == "logprob" else (),
        )
        for item in items
    ]


def question_key(item: MCItem) -> str:
    """Groups the items that share a question (both orders, several pairs) for the clustered CI.

    A lettered item is its context, question and set of options (the rotations of one item are
    one question; two items that share only a stock question such as "哪个选项正确？" are not).
    """
    text = item.question
    if item.kind == "letters":
        text = "\x1f".join((item.context or "", item.question, *sorted(item.options)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def check_parser(parser: str) -> bool:
    """``--parser official|strict`` to the parser's ``strict`` flag."""
    if parser not in PARSERS:
        raise InputError(f"unknown parser {parser!r}; choose from {', '.join(PARSERS)}", flag="--parser")
    return parser == "strict"


def interpret_answer(item: MCItem, response: ModelResponse, *, strict: bool = False) -> ParsedAnswer | None:
    """The parsed answer (label, rule, disputed); None when the request failed and the item is unscored.

    Reads the final answer only: reasoning in ``<think>`` or in ``response.reasoning`` never decides.
    """
    if not response.ok:
        return None
    if response.choice_logprobs is not None:
        # None (or -inf from responses cached before backends stored None) marks an unreachable choice.
        scores = {c: response.choice_logprobs.get(c) for c in item.letters}
        finite = {c: v for c, v in scores.items() if v is not None and math.isfinite(v)}
        if not finite:
            return ParsedAnswer("Need_Check", "logprob:unreachable")
        best = max(finite, key=finite.__getitem__)
        return ParsedAnswer(best, "logprob:argmax")
    return parse_answer(item, response.text or "", strict=strict, reasoning=response.reasoning)


def parse_answer(
    item: MCItem, text: str, *, strict: bool = False, reasoning: str | None = None
) -> ParsedAnswer:
    """A written reply's answer: a letter for lettered items, 回复1/回复2 otherwise (final answer only)."""
    if item.kind == "letters":
        return parse_letter_answer(text, item.options)
    return parse_mc_answer(text, strict=strict, reasoning=reasoning)


def parse_reply(item: MCItem, text: str) -> tuple[str, str]:
    """(prediction, rule) for a written reply (the official parser, not strict)."""
    parsed = parse_answer(item, text)
    return parsed.label, parsed.rule


def interpret(item: MCItem, response: ModelResponse, *, strict: bool = False) -> tuple[str | None, str]:
    """(prediction, rule). Prediction None means the request failed and the item is unscored."""
    parsed = interpret_answer(item, response, strict=strict)
    return (None, "error") if parsed is None else (parsed.label, parsed.rule)


def sample_record(
    item: MCItem,
    prompt: str,
    response: ModelResponse,
    request_hash: str,
    pred: str | None,
    rule: str,
    *,
    disputed: bool = False,
) -> dict[str, Any]:
    """One line of samples.jsonl: everything needed to recompute the metrics and audit the parse.

    ``reasoning`` holds the model's thinking (a ``<think>`` block or the server's separate field)
    apart from ``response``; ``disputed`` marks an official label the clause reading contradicts.
    """
    record: dict[str, Any] = {
        "id": item.id,
        "prompt": prompt,
        "response": response.text,
        "pred": pred,
        "label": item.label,
        "correct": pred == item.label if pred is not None else None,
        "rule": rule,
        "disputed": disputed,
        "reasoning": split_reasoning(response.text, response.reasoning).reasoning,
        "domain": item.domain,
        "difficulty": item.difficulty,
        "scenario": item.scenario,
        "level": item.level,
        "pair_id": item.pair_id,
        "question_key": question_key(item),
        "request_hash": request_hash,
    }
    if item.kind == "letters":
        # pred and label are letters; these say what the letters stood for.
        record["n_options"] = item.n_options
        record["question"] = item.question
        record["options"] = list(item.options)
        if item.context is not None:
            record["context"] = item.context
        if item.rotation:
            record["rotation"] = item.rotation
    if response.choice_logprobs is not None:
        record["choice_logprobs"] = {
            k: (v if v is not None and math.isfinite(v) else None)
            for k, v in response.choice_logprobs.items()
        }
    if response.error is not None:
        record["error"] = response.error
    return record


def scored_samples(records: list[dict[str, Any]]) -> list[ScoredSample]:
    """The metric inputs, read back from sample records (errored items are left out)."""
    return [
        ScoredSample(
            id=r["id"],
            label=r["label"],
            pred=r["pred"],
            domain=r.get("domain"),
            difficulty=r.get("difficulty"),
            scenario=r.get("scenario"),
            pair_id=r.get("pair_id"),
            question_key=r.get("question_key") or r["id"],
            disputed=bool(r.get("disputed")),
            n_options=r.get("n_options") or 0,
        )
        for r in records
        if r.get("pred") is not None
    ]
