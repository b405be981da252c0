"""Checks and helpers shared by the run commands (`cvalues mc`, `generate`, `judge`).

Everything here runs before anything is written: a bad model spec or output path is an
InputError (exit 2) with the output directory and the store still untouched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from cvalues.core.errors import InputError

if TYPE_CHECKING:
    from cvalues.core.backend import ModelSpec

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def slug(text: str) -> str:
    """A file-name-safe short form of a dataset or model name, for default output directories."""
    keep = [c if c.isalnum() or c in "-_." else "-" for c in Path(text).name or text]
    return "".join(keep).strip("-.")[:60] or "run"


def check_out_dir(out: Path | None, flag: str = "--out") -> None:
    """An existing ``--out`` must be a directory (a file there would be overwritten otherwise)."""
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory", flag=flag)


def looks_like_path(name: str) -> bool:
    """A local path rather than a hub id (``org/name``, at most one slash)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def check_model_available(spec: ModelSpec, flag: str = "--model") -> None:
    """What can be known about the model without loading it, checked before anything is written.

    The backend itself is created only on the first request (so that a resume loads nothing);
    without this check a missing file would surface as every request failing, after the store
    and the output directory were created. ``flag`` names the option in the error (``--judge``
    for a judge model); a missing API key names ``--api-key-env`` whatever the flag.
    """
    if spec.provider == "gguf":
        from cvalues.models.smollm2 import resolve_gguf_path

        path = resolve_gguf_path(spec.name)
        if not path.is_file():
            what = "is a directory, not a .gguf file" if path.is_dir() else "does not exist"
            raise InputError(f"GGUF file {path} {what}", flag=flag)
    elif spec.provider in ("hf", "vllm"):
        path = Path(spec.name).expanduser()
        if path.exists():
            if spec.provider == "hf" and not (path / "config.json").is_file():
                raise InputError(f"{path} is not a model directory (no config.json in it)", flag=flag)
        elif looks_like_path(spec.name):
            raise InputError(
                f"model directory {spec.name} does not exist (a hub id looks like org/name)", flag=flag
            )
    elif spec.provider == "openai" and spec.base_url is None and not os.environ.get(spec.api_key_env):
        raise InputError(
            f"no API key for {spec.key}: set the environment variable {spec.api_key_env}, "
            "or pass --base-url for a local server",
            flag="--api-key-env",
        )


def exit_if_failed(results: dict[str, Any], what: str) -> None:
    """Exit 1 (after saying why) when some requests failed: the run is kept, re-running retries them."""
    execution = results["execution"]
    failed = execution["n_failed"]
    if failed:
        first_error = execution.get("first_error")
        err_console.print(
            f"[red]{failed} request(s) failed and their {what} are missing; re-run the same command to "
            "retry them[/]" + (f" (first error: {escape(str(first_error))})" if first_error else ""),
            markup=True,
        )
        raise typer.Exit(1)


# The options every model-running command takes, declared once (Typer accepts a shared default).
CONCURRENCY_OPTION: Any = typer.Option(
    8, "--concurrency", min=1, help="Requests in flight at once (servers)."
)
MAX_RETRIES_OPTION: Any = typer.Option(
    6, "--max-retries", min=0, help="Servers: retries of a failed request (with back-off) before it fails."
)
BATCH_SIZE_OPTION: Any = typer.Option(
    8, "--batch-size", min=1, help="Prompts per forward pass (local models)."
)
DTYPE_OPTION: Any = typer.Option(
    "auto",
    "--dtype",
    help="Local models: auto (bfloat16/float16 on GPU, float32 on CPU), float32, bfloat16, float16.",
)
DEVICE_OPTION: Any = typer.Option("auto", "--device", help="Local models: auto, cpu, cuda, cuda:1 ...")
DB_OPTION: Any = typer.Option(None, "--db", help="Store URL (default: $CVALUES_DB or sqlite:///cvalues.db).")
NEW_RUN_OPTION: Any = typer.Option(
    False, "--new-run", help="Start a new run in --out even if one with other settings is there."
)
PROGRESS_OPTION: Any = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")
EXECUTOR_OPTION: Any = typer.Option(
    "local",
    "--executor",
    help="local: requests go from this process; ray: spread over Ray actors, each holding the model "
    "(same store, same request hashes: a run resumes across executors).",
)
RAY_ADDRESS_OPTION: Any = typer.Option(
    None,
    "--ray-address",
    help="--executor ray: the cluster to join (auto, ray://HOST:10001, ...); default a local cluster.",
)
RAY_WORKERS_OPTION: Any = typer.Option(
    2, "--ray-workers", min=1, help="--executor ray: Ray actors, each holding one copy of the model."
)


def check_executor(executor: str, ray_address: str | None) -> None:
    """``--executor`` and ``--ray-address`` agree and Ray is importable, before anything is written."""
    import importlib.util

    if executor not in ("local", "ray"):
        raise InputError(f"must be local or ray, got {executor!r}", flag="--executor")
    if ray_address is not None and executor != "ray":
        raise InputError("a cluster address needs --executor ray", flag="--ray-address")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise InputError("Ray is not installed: pip install 'cvalues[ray]'", flag="--executor")
