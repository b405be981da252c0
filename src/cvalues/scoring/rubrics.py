"""Judge rubrics: versioned TOML files that say what a judge is asked and how its answer is read.

A rubric file (the built-ins live in ``scoring/rubrics/``)::

    name = "safety"                  # how --rubric names it
    version = "1.0"                  # recorded with every judgment
    kind = "llm-judge"               # llm-judge | guard | pairwise
    description = "..."
    uses_chat_template = false       # true: the messages are the conversation itself, and the
                                     # guard model's own chat template builds its prompt (so no
                                     # system prompt may be added)
    models = ["..."]                 # optional: judge models it was written for
    references = ["https://..."]     # optional: where the format comes from

    [output]
    parser = "json-safety"           # a judge_parsers.OUTPUT_KINDS entry, plus its options

    [[messages]]
    role = "system"                  # system | user | assistant
    content = "..."                  # placeholders: see rubric_template

    [[messages]]
    expand = "history"               # the turns before the prompt (system turns left out)

Any problem with a file is an InputError naming the file and, where it can be found, the line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from cvalues.core.errors import InputError
from cvalues.core.registry import JUDGES
from cvalues.core.requests import Message
from cvalues.data.encoding import decode_bytes, read_bytes, sha256_bytes
from cvalues.data.items import DOMAINS
from cvalues.scoring.judge_parsers import (
    JudgeVerdict,
    check_output_schema,
    parse_judge_output,
    unparsed,
)
from cvalues.scoring.reasoning import split_reasoning
from cvalues.scoring.rubric_template import MissingValue, TemplateError, render_template, template_names

RubricKind = Literal["llm-judge", "guard", "pairwise"]
RUBRIC_KINDS: tuple[str, ...] = ("llm-judge", "guard", "pairwise")
_ROLES = ("system", "user", "assistant")
_EXPANSIONS = ("history",)
_TOP_KEYS = frozenset(
    {
        "name",
        "version",
        "kind",
        "description",
        "uses_chat_template",
        "models",
        "references",
        "output",
        "messages",
    }
)
_MESSAGE_KEYS = frozenset({"role", "content", "expand"})
# What each kind must show its judge: a judge that never sees the reply cannot judge it.
_REQUIRED_NAMES: dict[str, frozenset[str]] = {
    "llm-judge": frozenset({"response"}),
    "guard": frozenset({"response"}),
    "pairwise": frozenset({"response_a", "response_b"}),
}
# The options each parser takes in [output], and their types.
_OUTPUT_OPTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "json-score": {"minimum": (int, float), "maximum": (int, float)},
    "llamaguard": {"categories": dict},
}
# Speaker names used when the turns before the prompt are written into a judge prompt as text.
_SPEAKERS = {"user": "用户", "assistant": "助手"}


@dataclass(frozen=True)
class RubricMessage:
    """One message of a rubric: a role and a template, or an expansion (``expand="history"``)."""

    role: str | None
    content: str = ""
    expand: str | None = None


@dataclass(frozen=True)
class Rubric:
    """A loaded, checked rubric. ``source`` is ``builtin:<name>`` or the file's path."""

    name: str
    version: str
    kind: RubricKind
    output: str
    messages: tuple[RubricMessage, ...]
    source: str
    sha256: str
    description: str = ""
    uses_chat_template: bool = False
    output_options: Mapping[str, Any] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    references: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        """``name@version``: what a judgment records as the rubric it used."""
        return f"{self.name}@{self.version}"

    @property
    def placeholders(self) -> frozenset[str]:
        names: set[str] = set()
        for message in self.messages:
            names |= template_names(message.content)
            if message.expand:
                names.add(message.expand)
        return frozenset(names)

    def render(
        self,
        *,
        prompt: str,
        response: str | None = None,
        reference: str | None = None,
        domain: str | None = None,
        response_a: str | None = None,
        response_b: str | None = None,
        history: Sequence[tuple[str, str]] = (),
    ) -> tuple[Message, ...]:
        """The messages to send to the judge. ``domain`` may be a CValues key (``law``): the judge
        sees its Chinese name (法理学). A value the rubric uses outside a ``{?name}`` block must be
        given (an empty reply is a value); otherwise this raises InputError naming the rubric."""
        turns = [(role, content) for role, content in history if role in _SPEAKERS]
        values: dict[str, str | None] = {
            "prompt": prompt,
            "response": response,
            "reference": reference,
            "domain": DOMAINS.get(domain, domain) if domain is not None else None,
            "response_a": response_a,
            "response_b": response_b,
            "history": "\n".join(f"{_SPEAKERS[role]}：{content}" for role, content in turns) or None,
        }
        rendered: list[Message] = []
        for message in self.messages:
            if message.expand == "history":
                rendered.extend(Message(role=role, content=content) for role, content in turns)  # type: ignore[arg-type]
                continue
            try:
                content = render_template(message.content, values)
            except MissingValue as missing:
                raise InputError(
                    f"rubric {self.name!r} needs a {missing.name!r} value, and none was given",
                    path=self.source,
                ) from None
            rendered.append(Message(role=message.role, content=content))  # type: ignore[arg-type]
        return tuple(rendered)

    @property
    def output_example(self) -> tuple[frozenset[str], dict[str, str]]:
        """The keys of the JSON object the rubric's instructions show, and its placeholder texts.

        Read from the line of a message that starts with ``{"`` (the output-format example:
        ``{"score": 1到10之间的整数, "reason": "简要说明打分理由…"}``); empty when there is none.
        """
        keys: set[str] = set()
        placeholders: dict[str, str] = {}
        for message in self.messages:
            for line in message.content.splitlines():
                if not line.lstrip().startswith('{"'):
                    continue
                keys.update(_EXAMPLE_KEY.findall(line))
                placeholders.update(dict(_EXAMPLE_TEXT.findall(line)))
        return frozenset(keys), placeholders

    def parse(self, raw: str, *, reasoning: str | None = None) -> JudgeVerdict:
        """Read a judge's output with this rubric's parser and options; an output that repeats the
        rubric's placeholder text or has keys outside its example object is unparsed.
        ``reasoning`` is a server's separate reasoning field: an answer-less output with one is
        unfinished."""
        if reasoning and not split_reasoning(raw, reasoning).finished:
            return unparsed(raw, "the output ends inside the judge's reasoning")
        verdict = parse_judge_output(self.output, raw, **self.output_options)
        keys, placeholders = self.output_example
        return check_output_schema(verdict, placeholders, keys)


_EXAMPLE_KEY = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:')
_EXAMPLE_TEXT = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:\s*"([^"]*)"')


def rubrics_dir() -> Path:
    return Path(str(resources.files("cvalues.scoring").joinpath("rubrics")))


def rubric_names() -> list[str]:
    """The built-in rubrics, by name."""
    return sorted(path.stem for path in rubrics_dir().glob("*.toml"))


def load_rubric(name_or_path: str | Path) -> Rubric:
    """A built-in rubric by name (``rubric_names()``) or a rubric file by path."""
    ref = str(name_or_path)
    builtin = rubrics_dir() / f"{ref}.toml"
    if "/" not in ref and "\\" not in ref and builtin.is_file():
        return rubric_from_bytes(read_bytes(builtin), builtin, source=f"builtin:{ref}")
    path = Path(ref).expanduser()
    if not path.is_file():
        known = ", ".join(rubric_names())
        raise InputError(f"{ref!r} is neither a built-in rubric ({known}) nor a rubric file", flag="--rubric")
    return rubric_from_bytes(read_bytes(path), path, source=str(path.resolve()))


def rubric_from_bytes(data: bytes, path: Path, *, source: str | None = None) -> Rubric:
    try:
        text, _ = decode_bytes(data, path)
    except InputError:  # the reader's hint names --encoding, which no rubric takes
        raise InputError("is not text: a rubric file is TOML, saved as UTF-8", path=path) from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, line = _toml_error(str(exc))
        raise InputError(f"invalid TOML: {message}", path=path, line=line) from exc
    return _RubricReader(table, text, path).read(source or str(path), sha256_bytes(data))


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)|\s*\(at end of document\)")


def _toml_error(message: str) -> tuple[str, int | None]:
    match = _TOML_POSITION.search(message)
    line = int(match.group(1)) if match and match.group(1) else None
    return _TOML_POSITION.sub("", message), line


class _RubricReader:
    """Checks a parsed TOML table, naming the line of whatever is wrong."""

    def __init__(self, table: dict[str, Any], text: str, path: Path) -> None:
        self.table, self.text, self.path = table, text, path

    def fail(self, message: str, line: int | None = None) -> InputError:
        return InputError(message, path=self.path, line=line)

    def line_of(self, pattern: str, occurrence: int = 0) -> int | None:
        """The line of the ``occurrence``-th match of a regex in the file, if it is there."""
        for index, match in enumerate(re.finditer(pattern, self.text, re.MULTILINE)):
            if index == occurrence:
                return self.text.count("\n", 0, match.start()) + 1
        return None

    def key_line(self, key: str) -> int | None:
        return self.line_of(rf"^[ \t]*{re.escape(key)}[ \t]*=")

    def text_value(self, key: str, *, required: bool = True) -> str:
        value = self.table.get(key)
        if value is None:
            if required:
                raise self.fail(f"missing key {key!r}", 1)
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(f"{key!r} must be a string", self.key_line(key))
        if not str(value).strip():
            raise self.fail(f"{key!r} is empty", self.key_line(key))
        return str(value)

    def read(self, source: str, sha256: str) -> Rubric:
        for key in self.table:
            if key not in _TOP_KEYS:
                raise self.fail(
                    f"unknown key {key!r}; keys are {', '.join(sorted(_TOP_KEYS))}", self.key_line(key)
                )
        kind = self.text_value("kind")
        if kind not in RUBRIC_KINDS:
            raise self.fail(
                f"kind must be one of {', '.join(RUBRIC_KINDS)}, found {kind!r}", self.key_line("kind")
            )
        uses_template = self.table.get("uses_chat_template", False)
        if not isinstance(uses_template, bool):
            raise self.fail("'uses_chat_template' must be true or false", self.key_line("uses_chat_template"))
        parser, options = self.output()
        messages = self.messages()
        rubric = Rubric(
            name=self.text_value("name"),
            version=self.text_value("version"),
            kind=kind,  # type: ignore[arg-type]
            output=parser,
            messages=messages,
            source=source,
            sha256=sha256,
            description=self.text_value("description", required=False),
            uses_chat_template=uses_template,
            output_options=options,
            models=self.string_list("models"),
            references=self.string_list("references"),
        )
        missing = _REQUIRED_NAMES[kind] - rubric.placeholders
        if missing:
            names = ", ".join("{" + name + "}" for name in sorted(missing))
            raise self.fail(
                f"a {kind} rubric must show the judge {names}", self.line_of(r"^[ \t]*\[\[messages\]\]")
            )
        return rubric

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(f"{key!r} must be a list of strings", self.key_line(key))
        return tuple(value)

    def output(self) -> tuple[str, dict[str, Any]]:
        value = self.table.get("output")
        line = self.line_of(r"^[ \t]*\[output\]") or self.key_line("output")
        if value is None:
            raise self.fail("missing key 'output' (an [output] table with parser = ...)", 1)
        options: dict[str, Any] = {}
        if isinstance(value, dict):
            options = {key: option for key, option in value.items() if key != "parser"}
            value = value.get("parser")
        if not isinstance(value, str) or value not in JUDGES:
            known = ", ".join(JUDGES.names())
            raise self.fail(f"output parser must be one of {known}, found {value!r}", line)
        for key, option in options.items():
            expected = _OUTPUT_OPTIONS.get(value, {}).get(key)
            if expected is None:
                raise self.fail(f"parser {value!r} takes no option {key!r}", line)
            if isinstance(option, bool) or not isinstance(option, expected):
                raise self.fail(f"option {key!r} of parser {value!r} has the wrong type", line)
        if isinstance(options.get("categories"), dict) and not all(
            isinstance(name, str) for name in options["categories"].values()
        ):
            raise self.fail("[output.categories] maps codes to names (strings)", line)
        if options.get("minimum", 1) >= options.get("maximum", 10):
            raise self.fail("the score minimum must be below the maximum", line)
        return value, options

    def messages(self) -> tuple[RubricMessage, ...]:
        entries = self.table.get("messages")
        if not isinstance(entries, list) or not entries:
            raise self.fail("missing [[messages]]: a rubric needs at least one message", 1)
        messages: list[RubricMessage] = []
        for index, entry in enumerate(entries):
            line = self.line_of(r"^[ \t]*\[\[messages\]\]", index)
            if not isinstance(entry, dict):
                raise self.fail("each message must be a table", line)
            unknown = set(entry) - _MESSAGE_KEYS
            if unknown:
                raise self.fail(f"unknown message key {sorted(unknown)[0]!r}", line)
            if "expand" in entry:
                if entry["expand"] not in _EXPANSIONS or set(entry) != {"expand"}:
                    raise self.fail('an expand message is just expand = "history"', line)
                messages.append(RubricMessage(role=None, expand=entry["expand"]))
                continue
            role, content = entry.get("role"), entry.get("content")
            if role not in _ROLES:
                raise self.fail(f"message role must be system, user or assistant, found {role!r}", line)
            if not isinstance(content, str):
                raise self.fail("message 'content' must be a string", line)
            try:
                template_names(content)
            except TemplateError as exc:
                raise self.fail(str(exc), self.line_of(re.escape(exc.token)) or line) from None
            messages.append(RubricMessage(role=role, content=content))
        return tuple(messages)
