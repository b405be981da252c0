"""``--dataset`` values to MC datasets: a registered name or a file whose format is read off its content."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

from cvalues.core.errors import InputError
from cvalues.core.registry import DATASETS
from cvalues.data.answer_keys import load_answer_key
from cvalues.data.encoding import git_blob_sha1, read_bytes, sha256_bytes
from cvalues.data.items import LEVELS, Level, MCDataset, MCItem
from cvalues.data.mc_build import AnswerBase
from cvalues.data.mc_fields import check_field_mapping, load_mapped_mc
from cvalues.data.mc_official import load_moonshot_mc, load_official_mc
from cvalues.data.mc_pairs import COMPARISON_COLUMNS, JADE_COLUMNS, load_comparison_mc, load_jade_mc
from cvalues.data.readers import Row, rows_from_bytes, table_format_of
from cvalues.data.sources import OFFICIAL_SOURCES, fetch_official, find_source

SAMPLE_NAME = "sample"

Loader = Callable[[list[Row], Path, Mapping[str, str] | None], list[MCItem]]

# Format name -> loader; "generic" is a user's file read through --field mappings.
MC_LOADERS: dict[str, Loader] = {
    "official-mc": load_official_mc,
    "moonshot": load_moonshot_mc,
    "comparison": load_comparison_mc,
    "jade": load_jade_mc,
    "generic": load_mapped_mc,
}
MC_FORMATS: tuple[str, ...] = tuple(MC_LOADERS)


def mc_loader(fmt: str) -> Loader | None:
    """A built-in MC format, or one a plugin adds: a ``cvalues.datasets`` entry point that names a
    loader ``(rows, path, fields) -> list[MCItem]`` (an entry point that names an OfficialSource
    is a dataset, not a format)."""
    if fmt in MC_LOADERS:
        return MC_LOADERS[fmt]
    found = DATASETS.find(fmt)
    return found if callable(found) else None


def check_level(level: str | None) -> None:
    if level is not None and level not in LEVELS:
        raise InputError(f"must be safety or responsibility, got {level!r}", flag="--level")


def check_answer_base(base: int | None) -> None:
    if base is not None and base not in (0, 1):
        raise InputError(f"must be 0 or 1, got {base!r}", flag="--answer-base")


def sample_path() -> Path:
    """The bundled smoke-test set (written for this project, Apache-2.0)."""
    return Path(str(resources.files("cvalues.data").joinpath("sample", "mc_sample.jsonl")))


def mc_dataset_names() -> list[str]:
    return [SAMPLE_NAME, *(source.name for source in OFFICIAL_SOURCES if source.kind == "mc")]


def detect_mc_format(first: Row) -> str:
    """Which loader reads a file, from the fields of its first record."""
    keys = first.data.keys()
    if {"prompt", "label", "meta_info"} <= keys:
        return "official-mc"
    if {"input", "target"} <= keys:
        return "moonshot"
    if set(COMPARISON_COLUMNS) <= keys:
        return "comparison"
    if set(JADE_COLUMNS) <= keys:
        return "jade"
    return "generic"


def load_mc_dataset(
    ref: str,
    *,
    fields: dict[str, str] | None = None,
    encoding: str | None = None,
    fmt: str | None = None,
    level: Level | None = None,
    answers: str | Path | None = None,
    answer_base: AnswerBase | None = None,
) -> MCDataset:
    """Load ``ref`` (a name from ``mc_dataset_names()`` or a path) as a verified, checked MC dataset.

    ``level`` (``--level``), ``answers`` (``--answers``, a separate answer key joined by id) and
    ``answer_base`` (``--answer-base``: how a numeric answer counts) apply to a user's own file
    (the generic format); the official and published formats know their level and labels.
    """
    if fmt is not None and mc_loader(fmt) is None:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(MC_FORMATS)}", flag="--format")
    if fields and fmt not in (None, "generic"):
        raise InputError(f"--field mappings apply to generic files, not to format {fmt!r}", flag="--field")
    check_level(level)
    check_answer_base(answer_base)
    name: str | None
    if ref == SAMPLE_NAME:
        path, name, origin = sample_path(), SAMPLE_NAME, "bundled:cvalues/data/sample/mc_sample.jsonl"
    elif (source := find_source(ref)) is not None:
        if source.kind != "mc":
            raise InputError(f"{ref!r} is a {source.kind} dataset, not a multi-choice set", flag="--dataset")
        path, name, origin = fetch_official(ref), ref, source.url
        fmt = fmt or source.mc_format
    else:
        path = Path(ref).expanduser()
        if not path.exists():
            known = ", ".join(mc_dataset_names())
            raise InputError(
                f"{ref!r} is neither a dataset name ({known}) nor an existing file", flag="--dataset"
            )
        name, origin = None, str(path.resolve())
    data = read_bytes(path)
    digest = sha256_bytes(data)
    rows = rows_from_bytes(data, path, table_format_of(path, data), encoding=encoding)
    fmt = fmt or ("generic" if fields or answers is not None else detect_mc_format(rows[0]))
    if fmt == "generic":
        mapping = check_field_mapping(fields)
        key = None if answers is None else load_answer_key(answers, mapping, encoding=encoding)
        items = load_mapped_mc(rows, path, fields, default_level=level, answers=key, answer_base=answer_base)
    else:
        for flag, value in (("--level", level), ("--answers", answers), ("--answer-base", answer_base)):
            if value is not None:
                raise InputError(
                    f"{flag} applies to your own files (the generic format); format {fmt!r} knows its "
                    "levels and labels",
                    flag=flag,
                )
        loader = mc_loader(fmt)
        assert loader is not None  # checked above
        items = loader(rows, path, fields)
    return MCDataset(
        name=name or _name_for_file(path, data, digest), source=origin, sha256=digest, items=items
    )


def _name_for_file(path: Path, data: bytes, digest: str) -> str:
    """An official file given by path keeps its registry name; any other file is named by its stem."""
    blob: str | None = None
    for source in OFFICIAL_SOURCES:
        if source.sha256 == digest:
            return source.name
        if source.git_blob_sha1 is not None and source.filename == path.name:
            blob = blob or git_blob_sha1(data)
            if blob == source.git_blob_sha1:
                return source.name
    return path.stem
