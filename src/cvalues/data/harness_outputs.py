"""Reading other evaluation harnesses' outputs as rows for ``cvalues mc score``.

Each reader turns one tool's per-sample output into the rows the official step-2 file has
(``id``, ``prompt``, ``response``, ``label`` as 回复1 / 回复2, plus ``domain`` / ``difficulty``
/ ``meta_info`` when the tool kept the item's fields), so the replies are scored with this
project's parser, metrics and confidence intervals rather than the tool's own.

- **OpenCompass** ``predictions/<model>/<dataset>.json``: an object keyed "0", "1", … whose
  values hold ``origin_prompt``, ``prediction`` and ``gold`` (OpenCompass's
  ``GenInferencerOutputHandler`` / ``PPLInferencerOutputHandler``).
- **lm-evaluation-harness** ``--log_samples`` ``samples_<task>_<date>.jsonl``: one line per
  document and filter with ``doc_id``, ``doc``, ``target``, ``arguments``, ``resps``,
  ``filtered_resps``, ``filter``. A ``generate_until`` task's reply is ``resps[0][0]`` (the raw
  text, not a filter's extraction); a ``multiple_choice`` task's ``resps`` are
  ``[[logprob, is_greedy]]`` per choice and become ``choice_logprobs``.
- **inspect_ai** eval logs (``.eval`` or ``.json``), through ``inspect_ai.log.read_eval_log``:
  ``sample.output.completion`` is the reply (reasoning is kept apart by inspect), ``target`` the
  label, ``metadata`` the item's fields.

A label may be written 回复1 / 回复2, A / B, 1 / 2, or (lm-eval) a choice index 0 / 1.
``detect_format`` tells the formats apart by content; ``--format`` overrides it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from cvalues.core.errors import InputError
from cvalues.data.items import LABELS
from cvalues.data.readers import Row, read_rows

HarnessFormat = Literal["jsonl", "opencompass", "lm-eval", "inspect"]
HARNESS_FORMATS: tuple[HarnessFormat, ...] = ("jsonl", "opencompass", "lm-eval", "inspect")

_LABEL_ALIASES = {
    "回复1": "回复1",
    "回复2": "回复2",
    "a": "回复1",
    "b": "回复2",
    "1": "回复1",
    "2": "回复2",
    "reply 1": "回复1",
    "reply 2": "回复2",
    "response 1": "回复1",
    "response 2": "回复2",
}
_ITEM_FIELDS = ("domain", "difficulty", "scenario", "pair_id", "meta_info", "question")


def normalise_label(value: Any, *, index_based: bool = False) -> str | None:
    """回复1 / 回复2 for the ways tools write a two-option label, else None.

    ``index_based``: an integer is a choice index (lm-eval's ``doc_to_target``), 0 -> 回复1.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if index_based:
            return LABELS[value] if 0 <= value < len(LABELS) else None
        value = str(value)
    if isinstance(value, list) and len(value) == 1:
        return normalise_label(value[0], index_based=index_based)
    if not isinstance(value, str):
        return None
    return _LABEL_ALIASES.get(value.strip().strip("()（）.。").lower())


def detect_format(path: Path) -> HarnessFormat:
    """Which tool wrote ``path``, from its content (an ``.eval`` file is an inspect log); the
    official step-2 JSONL when no other tool's shape is recognised."""
    if path.suffix == ".eval":
        return "inspect"
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
    except OSError as exc:
        raise InputError(f"cannot read: {exc}", path=path) from None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    first_line = text.split("\n", 1)[0]
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError:
        first = None
    if isinstance(first, dict) and {"doc_id", "doc", "resps"} <= first.keys():
        return "lm-eval"
    if text.startswith("{"):
        if re.search(r'"origin_prompt"\s*:', text) and re.search(r'"prediction"\s*:', text):
            return "opencompass"
        if re.search(r'"eval"\s*:', text) and re.search(r'"(status|version)"\s*:', text):
            return "inspect"
    # Anything else is read as the official step-2 JSONL, whose reader names what is wrong.
    return "jsonl"


def _item_fields(source: dict[str, Any]) -> dict[str, Any]:
    return {name: source[name] for name in _ITEM_FIELDS if source.get(name) is not None}


def _label_or_error(value: Any, path: Path, line: int | None, *, index_based: bool = False) -> str:
    label = normalise_label(value, index_based=index_based)
    if label is None:
        raise InputError(f"gold label must be 回复1/回复2 (or A/B, 1/2), got {value!r}", path=path, line=line)
    return label


def _top_level_key_lines(text: str) -> dict[str, int]:
    """The line of each key of the top-level JSON object ``text`` (already known to parse), found
    by walking the object with the json module's own scanner, so any value (an object, a string, a
    list) and any layout has its line."""
    decoder = json.JSONDecoder()
    lines: dict[str, int] = {}
    at = text.index("{") + 1
    while True:
        at = _skip_space(text, at)
        if text[at] == "}":
            return lines
        key, after = decoder.raw_decode(text, at)
        lines.setdefault(key, text.count("\n", 0, at) + 1)
        at = _skip_space(text, _skip_space(text, after) + 1)  # past the ':'
        _, at = decoder.raw_decode(text, at)
        at = _skip_space(text, at)
        if text[at] == ",":
            at += 1


def _skip_space(text: str, at: int) -> int:
    while text[at] in " \t\r\n":
        at += 1
    return at


def read_opencompass(path: Path) -> list[Row]:
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict):
        raise InputError("an OpenCompass predictions file is a JSON object keyed by sample index", path=path)
    key_lines = _top_level_key_lines(text)
    rows = []
    for key, entry in data.items():
        line = key_lines.get(key)
        if not isinstance(entry, dict):
            raise InputError(f"sample {key!r} must be an object", path=path, line=line)
        for name in ("prediction", "gold"):
            if name not in entry:
                raise InputError(f"sample {key!r} has no {name!r}", path=path, line=line)
        prediction = entry["prediction"]
        if isinstance(prediction, list) and len(prediction) == 1:  # num_return_sequences=1 as a list
            prediction = prediction[0]
        if not isinstance(prediction, str):
            raise InputError(f"sample {key!r}: prediction must be a string", path=path, line=line)
        prompt = entry.get("origin_prompt")
        rows.append(
            Row(
                line=line or 0,
                data={
                    "id": str(key),
                    "prompt": prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False),
                    "response": prediction,
                    "label": _label_or_error(entry["gold"], path, line),
                    **_item_fields(entry),
                },
            )
        )
    return rows


def _lm_eval_choice(argument: Any) -> str | None:
    """The continuation of one loglikelihood request: ``[context, continuation]`` or
    ``{"arg_0": context, "arg_1": continuation}`` depending on the lm-eval version."""
    if isinstance(argument, dict):
        value = argument.get("arg_1")
    elif isinstance(argument, list | tuple) and len(argument) >= 2:
        value = argument[1]
    else:
        value = None
    return value if isinstance(value, str) else None


def _lm_eval_arguments(row: dict[str, Any]) -> list[Any]:
    arguments = row.get("arguments")
    if isinstance(arguments, dict):  # {"gen_args_0": {...}, "gen_args_1": {...}}
        return [arguments[k] for k in sorted(arguments, key=lambda k: int(re.sub(r"\D", "", k) or 0))]
    return list(arguments) if isinstance(arguments, list) else []


def read_lm_eval(path: Path) -> list[Row]:
    rows: list[Row] = []
    seen: dict[Any, int] = {}
    for raw in read_rows(path, fmt="jsonl"):
        data, line = raw.data, raw.line
        for name in ("doc_id", "doc", "resps", "target"):
            if name not in data:
                raise InputError(
                    f"missing field {name!r} (not an lm-eval --log_samples line)", path=path, line=line
                )
        # One line per (document, filter): the replies are the same, keep the first.
        if data["doc_id"] in seen:
            continue
        seen[data["doc_id"]] = line
        doc = data["doc"] if isinstance(data["doc"], dict) else {}
        resps = data["resps"]
        arguments = _lm_eval_arguments(data)
        # The item's own id when the task kept it in the document, else lm-eval's index.
        record: dict[str, Any] = {"id": str(doc.get("id", data["doc_id"])), **_item_fields(doc)}
        first_argument = arguments[0] if arguments else None
        if isinstance(first_argument, dict):
            record["prompt"] = _lm_eval_prompt(first_argument.get("arg_0"))
        elif isinstance(first_argument, list | tuple) and first_argument:
            record["prompt"] = _lm_eval_prompt(first_argument[0])
        if _is_loglikelihood(resps):
            choices = [_lm_eval_choice(a) for a in arguments]
            labels = [normalise_label(c) for c in choices]
            if len(resps) != len(LABELS) or None in labels:
                labels = list(LABELS) if len(resps) == len(LABELS) else []
            if not labels:
                raise InputError(
                    f"a multiple-choice line needs 2 choices, found {len(resps)}", path=path, line=line
                )
            record["choice_logprobs"] = {
                label: float(resp[0][0]) for label, resp in zip(labels, resps, strict=True)
            }
            record["response"] = None
            record["label"] = _label_or_error(data["target"], path, line, index_based=True)
        else:
            reply = resps[0][0] if resps and isinstance(resps[0], list) and resps[0] else None
            if not isinstance(reply, str):
                raise InputError("resps[0][0] must be the generated text", path=path, line=line)
            record["response"] = reply
            record["label"] = _label_or_error(data["target"], path, line, index_based=True)
        rows.append(Row(line=line, data=record))
    return rows


def _lm_eval_prompt(context: Any) -> str | None:
    """The prompt text: a completion model's context string, or (``--apply_chat_template`` with a
    chat API) the last user message of the JSON-encoded messages lm-eval logs as ``[json]``."""
    if isinstance(context, list) and len(context) == 1:
        context = context[0]
    if not isinstance(context, str):
        return None
    if context.startswith("[{"):
        try:
            messages = json.loads(context)
        except json.JSONDecodeError:
            return context
        users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        if users and isinstance(users[-1], str):
            return users[-1]
    return context


def _is_loglikelihood(resps: Any) -> bool:
    """``[[[logprob, is_greedy]], ...]`` (one per choice) rather than ``[["text"]]``."""
    return (
        isinstance(resps, list)
        and bool(resps)
        and all(isinstance(r, list) and r and isinstance(r[0], list) and len(r[0]) == 2 for r in resps)
    )


def read_inspect(path: Path) -> list[Row]:
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise InputError(
            "reading inspect_ai logs needs inspect_ai: pip install 'cvalues[inspect]'", path=path
        ) from None
    try:
        log = read_eval_log(str(path))
    except Exception as exc:  # inspect raises its own and pydantic errors for a bad log
        raise InputError(f"not a readable inspect_ai eval log: {exc}", path=path) from None
    rows = []
    for index, sample in enumerate(log.samples or [], start=1):
        metadata = dict(sample.metadata or {})
        # A sample that errored has no reply: scored as an empty answer (Need_Check), not dropped.
        reply = None if sample.error is not None or sample.output is None else sample.output.completion
        prompt = sample.input if isinstance(sample.input, str) else _last_user_text(sample.input)
        rows.append(
            Row(
                line=index,
                data={
                    "id": str(sample.id),
                    "prompt": prompt,
                    "response": reply if reply is not None else "",
                    "label": _label_or_error(sample.target, path, None),
                    **_item_fields(metadata),
                },
            )
        )
    return rows


def _last_user_text(messages: Any) -> str | None:
    for message in reversed(list(messages or [])):
        if getattr(message, "role", None) == "user":
            return str(message.text)
    return None


def _read_jsonl(path: Path) -> list[Row]:
    return read_rows(path, fmt="jsonl")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=path) from None


READERS: dict[HarnessFormat, Callable[[Path], list[Row]]] = {
    "jsonl": _read_jsonl,
    "opencompass": read_opencompass,
    "lm-eval": read_lm_eval,
    "inspect": read_inspect,
}


def read_harness_output(path: Path, fmt: str | None = None) -> tuple[HarnessFormat, list[Row]]:
    """The rows of ``path`` and the format they were read as (``fmt`` or detected)."""
    if fmt is not None and fmt not in READERS:
        raise InputError(f"must be one of {', '.join(HARNESS_FORMATS)}, got {fmt!r}", flag="--format")
    chosen: HarnessFormat = fmt if fmt is not None else detect_format(path)  # type: ignore[assignment]
    return chosen, READERS[chosen](path)
