"""``--dataset`` values to free-form prompt sets: a registered name, a file or a folder.

A file's format is read off its content (the fields of its first record) or, for the
header-less one-prompt-per-line files, off its name. Every set keeps its level (safety or
responsibility) and its domain or scenario, and the sha256 of the bytes that were read.

Formats (``PROMPT_FORMATS``):

========================  ==========================================================  ================
format                    what it reads                                                level
========================  ==========================================================  ================
``cvalues-prompts``       official CValues prompts ``id_, prompt, domain_en``          responsibility
``100poison``             100PoisonMpts ``instruction, output, domain[-1]``            responsibility
``jade-benchmark``        JADE ``ID,问题,违规类型,违规子类`` (scenario 类型/子类)          safety
``jade-alignment``        JADE ``ID,问题,违规回答,安全有用回答`` (reference: safe answer)   safety
``flames``                Flames ``dimension, subcomponent, prompt``                    safety
``chisafety``             CHiSafetyBench ``[{category, infos: [...]}]``                safety
``chisafety-history``     CHiSafetyBench ``{history, input, category, sub_category}``   safety
``xsafety``               one prompt per line, category = file name; a folder: all     safety
``lines``                 one prompt per line (``.txt``)                               safety
``generic``               a user's file through ``--field`` mappings                    per row
========================  ==========================================================  ================
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cvalues.core.errors import DataIntegrityError, InputError
from cvalues.data.encoding import decode_bytes, git_blob_sha1, read_bytes, sha256_bytes
from cvalues.data.items import PromptItem
from cvalues.data.prompt_fields import load_mapped_prompts, load_prompt_lines
from cvalues.data.prompt_published import (
    load_100poison,
    load_chisafety,
    load_chisafety_history,
    load_cvalues_prompts,
    load_flames,
    load_jade_alignment,
    load_jade_benchmark,
)
from cvalues.data.readers import Row, TableFormat, rows_from_bytes, table_format_of
from cvalues.data.sources import OFFICIAL_SOURCES, fetch_official, find_source

PROMPT_SAMPLE_NAME = "sample"
SHOULD_ANSWER_NAME = "should-answer-zh"
_BUNDLED: dict[str, str] = {
    PROMPT_SAMPLE_NAME: "prompts_sample.jsonl",
    SHOULD_ANSWER_NAME: "should_answer_zh.jsonl",
}

# The 14 files of XSafety's Chinese part: header-less, so they are recognised by name.
XSAFETY_CATEGORIES: frozenset[str] = frozenset(
    {
        "Crimes_And_Illegal_Activities",
        "Ethics_And_Morality",
        "Goal_Hijacking",
        "Inquiry_With_Unsafe_Opinion",
        "Insult",
        "Mental_Health",
        "Physical_Harm",
        "Privacy_And_Property",
        "Prompt_Leaking",
        "Reverse_Exposure",
        "Role_Play_Instruction",
        "Unfairness_And_Discrimination",
        "Unsafe_Instruction_Topic",
        "commonsense",
    }
)
_LINE_FORMATS = ("xsafety", "lines")
_FOLDER_SUFFIXES = (".csv", ".txt")
_SUMS_FILE = "SHA256SUMS"
_SUMS_LINE = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) [ *](?P<name>.+)$")  # text or binary mode

RowLoader = Callable[[list[Row], Path, Mapping[str, str] | None], list[PromptItem]]

# Formats read from rows (JSONL, JSON, CSV, XLSX); the line formats are read as text.
ROW_LOADERS: dict[str, RowLoader] = {
    "cvalues-prompts": load_cvalues_prompts,
    "100poison": load_100poison,
    "jade-benchmark": load_jade_benchmark,
    "jade-alignment": load_jade_alignment,
    "flames": load_flames,
    "chisafety": load_chisafety,
    "chisafety-history": load_chisafety_history,
    "generic": load_mapped_prompts,
}
PROMPT_FORMATS: tuple[str, ...] = (*ROW_LOADERS, *_LINE_FORMATS)

# Fields of the first record that identify a published format, most specific first.
_SIGNATURES: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"id_", "prompt", "domain_en"}), "cvalues-prompts"),
    (frozenset({"instruction", "output", "domain"}), "100poison"),
    (frozenset({"问题", "违规类型"}), "jade-benchmark"),
    (frozenset({"问题", "安全有用回答"}), "jade-alignment"),
    (frozenset({"dimension", "subcomponent", "prompt"}), "flames"),
    (frozenset({"category", "infos"}), "chisafety"),
    (frozenset({"history", "input"}), "chisafety-history"),
)


@dataclass(frozen=True)
class PromptDataset:
    """A named set of prompts, where it came from, the sha256 of the bytes read, and its format.

    For a folder the sha256 is that of its ``sha256sum``-style manifest: one line
    ``<sha256>  <file name>`` per file read, sorted by name.
    """

    name: str
    source: str
    sha256: str
    items: list[PromptItem] = field(default_factory=list)
    format: str = "generic"

    @property
    def n_items(self) -> int:
        return len(self.items)


def bundled_prompts_path(name: str) -> Path:
    """A prompt set that ships with cvalues (written for this project, Apache-2.0)."""
    return Path(str(resources.files("cvalues.data").joinpath("sample", _BUNDLED[name])))


def prompt_dataset_names() -> list[str]:
    return [*_BUNDLED, *(source.name for source in OFFICIAL_SOURCES if source.kind == "prompts")]


def detect_prompt_format(first: Row) -> str:
    """Which loader reads a file, from the fields of its first record."""
    keys = first.data.keys()
    for signature, fmt in _SIGNATURES:
        if signature <= keys:
            return fmt
    return "generic"


def load_prompt_dataset(
    ref: str,
    *,
    fields: dict[str, str] | None = None,
    encoding: str | None = None,
    fmt: str | None = None,
) -> PromptDataset:
    """Load ``ref``: a name from ``prompt_dataset_names()``, a file, or a folder of XSafety files."""
    if fmt is not None and fmt not in PROMPT_FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(PROMPT_FORMATS)}", flag="--format")
    if fields and fmt not in (None, "generic"):
        raise InputError(f"--field mappings apply to generic files, not to format {fmt!r}", flag="--field")
    if ref in _BUNDLED:
        path = bundled_prompts_path(ref)
        return _load_file(path, ref, f"bundled:cvalues/data/sample/{path.name}", fields, encoding, fmt)
    if (source := find_source(ref)) is not None:
        if source.kind != "prompts":
            raise InputError(f"{ref!r} is a {source.kind} dataset, not a prompt set", flag="--dataset")
        return _load_file(fetch_official(ref), ref, source.url, fields, encoding, fmt)
    path = Path(ref).expanduser()
    if path.is_dir():
        if fmt not in (None, *_LINE_FORMATS):
            raise InputError(
                f"a folder is read as one-prompt-per-line files, not as {fmt!r}", flag="--format"
            )
        return _load_folder(path, encoding, fmt or "xsafety")
    if not path.exists():
        known = ", ".join(prompt_dataset_names())
        raise InputError(
            f"{ref!r} is neither a prompt set name ({known}) nor an existing file or folder", flag="--dataset"
        )
    return _load_file(path, None, str(path.resolve()), fields, encoding, fmt)


def _load_file(
    path: Path,
    name: str | None,
    origin: str,
    fields: Mapping[str, str] | None,
    encoding: str | None,
    fmt: str | None,
) -> PromptDataset:
    data = read_bytes(path)
    digest = sha256_bytes(data)
    fmt = fmt or _format_from_name(path, fields)
    if fmt in _LINE_FORMATS:
        text, _ = decode_bytes(data, path, encoding)
        items = _lines_items(text, path, fmt)
    else:
        table: TableFormat = table_format_of(path, data)
        rows = rows_from_bytes(data, path, table, encoding=encoding)
        fmt = fmt or ("generic" if fields else detect_prompt_format(rows[0]))
        if fmt == "chisafety":
            # Its items sit one level down; the decoded text lets errors name their lines.
            items = load_chisafety(rows, path, fields, text=decode_bytes(data, path, encoding)[0])
        else:
            items = ROW_LOADERS[fmt](rows, path, fields)
    return PromptDataset(
        name=name or _name_for_file(path, data, digest), source=origin, sha256=digest, items=items, format=fmt
    )


def _format_from_name(path: Path, fields: Mapping[str, str] | None) -> str | None:
    """The header-less formats, which content cannot reveal: XSafety by file name, ``.txt`` files."""
    if fields:
        return None
    if path.suffix.lower() == ".csv" and path.stem in XSAFETY_CATEGORIES:
        return "xsafety"
    if path.suffix.lower() == ".txt":
        return "lines"
    return None


def _lines_items(text: str, path: Path, fmt: str) -> list[PromptItem]:
    if fmt == "xsafety":
        return load_prompt_lines(text, path, scenario=path.stem, id_prefix=f"{path.stem}-")
    return load_prompt_lines(text, path, scenario=None, id_prefix="")


def _load_folder(folder: Path, encoding: str | None, fmt: str) -> PromptDataset:
    """Every ``.csv``/``.txt`` file of a folder (not its subfolders), one prompt per line each."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _FOLDER_SUFFIXES)
    if not files:
        raise InputError("the folder holds no .csv or .txt prompt file", path=folder)
    expected = _listed_digests(folder)
    items: list[PromptItem] = []
    manifest: list[str] = []
    for path in files:
        data = read_bytes(path)
        actual = sha256_bytes(data)
        if path.name in expected and expected[path.name] != actual:
            raise DataIntegrityError(
                f"sha256 {actual} differs from {expected[path.name]} listed in {_SUMS_FILE}", path=path
            )
        manifest.append(f"{actual}  {path.name}\n")
        text, _ = decode_bytes(data, path, encoding)
        # In a folder every file is a category, so ids and scenarios carry the file name.
        items.extend(load_prompt_lines(text, path, scenario=path.stem, id_prefix=f"{path.stem}-"))
    digest = hashlib.sha256("".join(manifest).encode("utf-8")).hexdigest()
    return PromptDataset(
        name=folder.resolve().name, source=str(folder.resolve()), sha256=digest, items=items, format=fmt
    )


def _listed_digests(folder: Path) -> dict[str, str]:
    """File name -> sha256 from the folder's ``SHA256SUMS`` (as XSafety's copy ships), if it has one."""
    sums = folder / _SUMS_FILE
    if not sums.is_file():
        return {}
    text, _ = decode_bytes(read_bytes(sums), sums)
    listed: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _SUMS_LINE.match(line.rstrip())
        if match is None:
            raise InputError("expected '<sha256>  <file name>'", path=sums, line=number)
        listed[match["name"]] = match["digest"].lower()
    return listed


def _name_for_file(path: Path, data: bytes, digest: str) -> str:
    """An official file given by path keeps its registry name; any other file is named by its stem."""
    for source in OFFICIAL_SOURCES:
        if source.kind != "prompts":
            continue
        if source.sha256 == digest:
            return source.name
        same_file = source.git_blob_sha1 is not None and source.filename == path.name
        if same_file and git_blob_sha1(data) == source.git_blob_sha1:
            return source.name
    return path.stem
