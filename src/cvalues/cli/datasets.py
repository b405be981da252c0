"""``cvalues datasets``: list, inspect, download and validate datasets.

``show`` prints counts and at most the first 60 characters of one question: the safety sets hold
harmful prompts by design, and a terminal is no place to dump them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from cvalues.cli.options import (
    ANSWER_BASE_HELP,
    ANSWERS_HELP,
    FIELD_NAMES_HELP,
    LEVEL_HELP,
    parse_answer_base,
    parse_field_mapping,
)
from cvalues.data.encoding import read_bytes, sha256_bytes, sha256_file
from cvalues.data.items import MCDataset
from cvalues.data.modelscope import MODELSCOPE_SOURCES, fetch_modelscope, modelscope_source
from cvalues.data.readers import rows_from_bytes
from cvalues.data.resolve import MC_FORMATS, SAMPLE_NAME, load_mc_dataset, sample_path
from cvalues.data.sources import OFFICIAL_SOURCES, SOURCES_BY_NAME, fetch_official, offline_location

app = typer.Typer(help="List, inspect, download and validate datasets.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

EXAMPLE_CHARS = 60

FIELD_HELP = FIELD_NAMES_HELP
ENCODING_HELP = "Encoding of the file (default: detect UTF-8, UTF-8 with BOM, GB18030)."
FORMAT_HELP = f"Force the format instead of detecting it: {', '.join(MC_FORMATS)}."
FieldOption = Annotated[list[str] | None, typer.Option("--field", help=FIELD_HELP)]
EncodingOption = Annotated[str | None, typer.Option("--encoding", help=ENCODING_HELP)]
FormatOption = Annotated[str | None, typer.Option("--format", help=FORMAT_HELP)]
AnswersOption = Annotated[Path | None, typer.Option("--answers", help=ANSWERS_HELP)]
AnswerBaseOption = Annotated[int | None, typer.Option("--answer-base", help=ANSWER_BASE_HELP)]
LevelOption = Annotated[str | None, typer.Option("--level", help=LEVEL_HELP)]


def _load(
    ref: str,
    field: list[str] | None,
    encoding: str | None,
    fmt: str | None,
    answers: Path | None,
    answer_base: int | None,
    level: str | None,
) -> MCDataset:
    return load_mc_dataset(
        ref,
        fields=parse_field_mapping(field),
        encoding=encoding,
        fmt=fmt,
        level=level,  # type: ignore[arg-type]
        answers=answers,
        answer_base=parse_answer_base(answer_base),  # type: ignore[arg-type]
    )


@app.command("list")
def list_datasets() -> None:
    """Registered datasets, their kind, and whether they are available without the network."""
    table = Table(Column("name", no_wrap=True), "kind", Column("offline", no_wrap=True), "description")
    table.add_row(SAMPLE_NAME, "mc", "yes", "hand-written smoke-test set (bundled)")
    for source in OFFICIAL_SOURCES:
        where = offline_location(source)
        table.add_row(
            source.name, source.kind, f"yes ({where})" if where else "no", escape(source.description)
        )
    for pairs in MODELSCOPE_SOURCES.values():
        table.add_row(pairs.name, "pairs", "ModelScope", escape(pairs.description))
    console.print(table)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(metavar="NAME_OR_PATH", help="A registered name or a file.")],
    field: FieldOption = None,
    encoding: EncodingOption = None,
    fmt: FormatOption = None,
    answers: AnswersOption = None,
    answer_base: AnswerBaseOption = None,
    level: LevelOption = None,
) -> None:
    """Source, sha256 and counts of a dataset (by domain, difficulty, level), never its contents."""
    source = SOURCES_BY_NAME.get(ref)
    if source is not None and source.kind == "prompts":
        _show_prompts(ref)
        return
    _show_mc(_load(ref, field, encoding, fmt, answers, answer_base, level))


@app.command("fetch")
def fetch(
    name: Annotated[
        str,
        typer.Argument(help="A registered dataset (see `cvalues datasets list`), e.g. cvalues-comparison."),
    ],
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Download again even if a verified copy exists.")
    ] = False,
) -> None:
    """Download an official dataset (or find it in $CVALUES_DATA_DIR), verify it, and print where it is."""
    source = modelscope_source(name)
    if source is not None:  # a ModelScope dataset: every split
        for split in source.files:
            fetched = fetch_modelscope(name, split)
            typer.echo(f"{split}: {fetched.path}")
            note = "  (first download: recorded; later copies must match it)" if fetched.recorded_now else ""
            typer.echo(f"{split} sha256: {fetched.sha256}{note}")
        return
    path = sample_path() if name == SAMPLE_NAME else fetch_official(name, refresh=refresh)
    typer.echo(f"path: {path}")
    typer.echo(f"sha256: {sha256_file(path)}")


@app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="The dataset file to check.")],
    field: FieldOption = None,
    encoding: EncodingOption = None,
    fmt: FormatOption = None,
    answers: AnswersOption = None,
    answer_base: AnswerBaseOption = None,
    level: LevelOption = None,
) -> None:
    """Check every row of a file as `cvalues mc --dataset FILE` would read it; exit 2 on the first problem."""
    dataset = _load(str(file), field, encoding, fmt, answers, answer_base, level)
    kinds = Counter(item.kind for item in dataset.items)
    lettered = kinds.get("letters", 0)
    what = f" ({lettered} with lettered options)" if lettered else ""
    typer.echo(f"ok: {dataset.n_items} items{what}")


def _show_mc(dataset: MCDataset) -> None:
    items = dataset.items
    typer.echo(f"name: {dataset.name}")
    typer.echo(f"source: {dataset.source}")
    typer.echo(f"sha256: {dataset.sha256}")
    typer.echo(f"items: {dataset.n_items}")
    lettered = [item for item in items if item.kind == "letters"]
    if lettered:
        typer.echo(f"lettered items: {len(lettered)}")
        typer.echo(f"with context: {sum(item.context is not None for item in lettered)}")
        _echo_counts("options per item", Counter(str(item.n_options) for item in lettered))
    if len(lettered) < len(items):
        typer.echo(f"pairs: {len({item.pair_id for item in items if item.kind == 'replies'})}")
    typer.echo(f"questions: {len({item.question for item in items})}")
    _echo_counts("labels", Counter(item.label for item in items))
    _echo_counts("levels", Counter(item.level or "(unknown)" for item in items))
    _echo_counts("domains", Counter(item.domain or "(none)" for item in items))
    _echo_counts("difficulty", Counter(item.difficulty or "(none)" for item in items))
    if any(item.scenario for item in items):
        _echo_counts("scenarios", Counter(item.scenario or "(none)" for item in items))
    if items:
        typer.echo(f"example question: {_shorten(items[0].question)}")


def _show_prompts(name: str) -> None:
    path = fetch_official(name)
    data = read_bytes(path)
    rows = rows_from_bytes(data, path, "jsonl")
    typer.echo(f"name: {name}")
    typer.echo(f"source: {SOURCES_BY_NAME[name].url}")
    typer.echo(f"path: {path}")
    typer.echo(f"sha256: {sha256_bytes(data)}")
    typer.echo(f"prompts: {len(rows)}")
    _echo_counts("domains", Counter(str(row.data.get("domain_en") or "(none)") for row in rows))
    typer.echo(f"example prompt: {_shorten(str(rows[0].data.get('prompt', '')))}")


def _echo_counts(title: str, counts: Counter[str]) -> None:
    typer.echo(f"{title}:")
    for key, count in counts.most_common():
        typer.echo(f"  {key}: {count}")


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXAMPLE_CHARS else flat[:EXAMPLE_CHARS] + "…"
