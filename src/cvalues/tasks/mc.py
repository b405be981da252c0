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
from cvalues.data.items import LABELS, MCItem
from cvalues.scoring.mc_parser import PARSERS, ParsedAnswer, parse_mc_answer
from cvalues.scoring.metrics import ScoredSample
from cvalues.scoring.reasoning import split_reasoning

Mode = Literal["generate", "logprob"]
MODES: tuple[Mode, ...] = ("generate", "logprob")
TEMPLATE_FIELDS = frozenset({"question", "reply1", "reply2"})
BUILTIN_TEMPLATES = ("mc_zh", "mc_en")


@dataclass(frozen=True)
class Template:
    """A prompt template and where it came from (recorded in results.json)."""

    text: str
    source: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def render(self, item: MCItem) -> str:
        return self.text.format(question=item.question, reply1=item.reply1, reply2=item.reply2)


def _check_template(text: str, source: str) -> Template:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:  # a lone "{" or "}" in the file
        raise InputError(
            f"template is not a valid format string ({exc}); write literal braces as {{{{ }}}}", path=source
        ) from exc
    unknown = fields - TEMPLATE_FIELDS
    if unknown:
        raise InputError(
            f"template uses unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(TEMPLATE_FIELDS)}",
            path=source,
        )
    missing = TEMPLATE_FIELDS - fields
    if missing:
        raise InputError(f"template lacks placeholder(s) {sorted(missing)}", path=source)
    return Template(text=text, source=source)


def load_template(path: str | Path | None = None, *, builtin: str = "mc_zh") -> Template:
    """The ``--template`` file, or a built-in one (``mc_zh`` default, ``mc_en``)."""
    if path is None:
        if builtin not in BUILTIN_TEMPLATES:
            raise InputError(f"unknown built-in template {builtin!r}; choose from {BUILTIN_TEMPLATES}")
        text = resources.files("cvalues.tasks").joinpath("templates", f"{builtin}.txt").read_text("utf-8")
        return _check_template(text, f"builtin:{builtin}")
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
    return _check_template(text, str(file))


def prompt_for(item: MCItem, template: Template) -> str:
    """The authors' prompt verbatim when the item carries one; otherwise the template."""
    return item.prompt if item.prompt is not None else template.render(item)


def build_requests(items: list[MCItem], template: Template, mode: Mode) -> list[ModelRequest]:
    kind: RequestKind = "generate" if mode == "generate" else "choices"
    choices = LABELS if mode == "logprob" else ()
    return [
        ModelRequest(messages=(Message("user", prompt_for(item, template)),), kind=kind, choices=choices)
        for item in items
    ]


def question_key(item: MCItem) -> str:
    """Groups the items that share a question (both orders, several pairs) for the clustered CI."""
    return hashlib.sha256(item.question.encode("utf-8")).hexdigest()[:16]


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
        scores = {c: response.choice_logprobs.get(c) for c in LABELS}
        finite = {c: v for c, v in scores.items() if v is not None and math.isfinite(v)}
        if not finite:
            return ParsedAnswer("Need_Check", "logprob:unreachable")
        best = max(finite, key=finite.__getitem__)
        return ParsedAnswer(best, "logprob:argmax")
    return parse_mc_answer(response.text or "", strict=strict, reasoning=response.reasoning)


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
        )
        for r in records
        if r.get("pred") is not None
    ]
