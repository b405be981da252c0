"""Checks and helpers shared by the run commands (`cvalues mc`, `generate`, `judge`).

Everything here runs before anything is written: a bad model spec or output path is an
InputError (exit 2) with the output directory and the store still untouched.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from cvalues.core.errors import InputError

# Re-exported for the run commands; it lives beside the executors it checks (the API uses it too).
from cvalues.models.registry import check_executor as check_executor

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def exit_if_failed(results: dict[str, Any], what: str) -> None:
    """Exit 1 (after saying why) when some requests failed: the run is kept, re-running retries them."""
    execution = results["execution"]
    skipped, cut = execution.get("n_skipped") or 0, execution.get("n_truncated") or 0
    if skipped or cut:
        window = execution.get("context_window")
        err_console.print(
            f"[yellow]longer than the model's context window ({window or 0:,} tokens): "
            + "; ".join(
                part
                for part in (
                    f"{skipped} item(s) skipped, never sent (samples.jsonl: error \"skipped: ...\"; "
                    "--truncate left|right cuts them instead)" if skipped else "",
                    f"{cut} prompt(s) cut (--truncate)" if cut else "",
                )
                if part
            )
            + "[/]",
            markup=True,
        )
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
BATCH_TOKENS_OPTION: Any = typer.Option(
    None,
    "--batch-tokens",
    min=1,
    help="Local models: at most this many padded tokens (rows x longest prompt) per forward pass; "
    "prompts are sorted by length first. Default: --batch-size rows, whatever their length.",
)
ENGINES = ("fast", "plain")


def _check_engine(value: str) -> str:
    if value not in ENGINES:
        raise typer.BadParameter(f"must be one of {', '.join(ENGINES)}, got {value!r}")
    return value


ENGINE_OPTION: Any = typer.Option(
    "fast",
    "--engine",
    callback=_check_engine,
    help="transformers models: fast (the CPU fast path where it is tested, plain transformers "
    "elsewhere) or plain (always plain transformers). The path taken is recorded per response.",
)
DTYPE_OPTION: Any = typer.Option(
    "auto",
    "--dtype",
    help="Local models: auto (bfloat16/float16 on GPU; on CPU bfloat16 where the CPU has native "
    "bfloat16 (AVX512-BF16 or AMX), else float32), float32, bfloat16, float16.",
)
DEVICE_OPTION: Any = typer.Option("auto", "--device", help="Local models: auto, cpu, cuda, cuda:1 ...")
DB_OPTION: Any = typer.Option(None, "--db", help="Store URL (default: $CVALUES_DB or sqlite:///cvalues.db).")
NEW_RUN_OPTION: Any = typer.Option(
    False, "--new-run", help="Start a new run in --out even if one with other settings is there."
)
PROGRESS_OPTION: Any = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")
CHAT_FORMAT_OPTION: Any = typer.Option(
    None,
    "--chat-format",
    help="Local models: the conversation format of a model without a chat template: chatglm-6b, moss, "
    "belle, chinese-alpaca, ziya, plain (see `cvalues models formats`), or a Jinja template FILE "
    "(messages, add_generation_prompt). Default: chosen from the model's name where unambiguous.",
)
TRUST_REMOTE_CODE_OPTION: Any = typer.Option(
    False,
    "--trust-remote-code",
    help="Local models: run the Python code the model ships (config.json auto_map, e.g. ChatGLM-6B). "
    "Off by default; recorded in the run.",
)
# For the run commands (wired by the run core: execute.screen.screen_for_model before any request).
TRUNCATE_OPTION: Any = typer.Option(
    None,
    "--truncate",
    help="left or right: cut a prompt longer than the model's context window from that side "
    "(default: skip the item, with the reason in samples.jsonl).",
)


CONTEXT_WINDOW_OPTION: Any = typer.Option(
    None,
    "--context-window",
    min=16,
    help="Tokens the model takes, when the server does not say or runs with less than the model's "
    "own window (llama.cpp's server: -c); prompts that do not fit are skipped or --truncate'd "
    "before any request.",
)


def check_truncate(value: str | None) -> str | None:
    """``--truncate``: left, right or unset."""
    if value is not None and value not in ("left", "right"):
        raise InputError(f"must be left or right, got {value!r}", flag="--truncate")
    return value


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
