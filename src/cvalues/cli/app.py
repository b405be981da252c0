"""The ``cvalues`` console entry point: one Typer app, one module per command group."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from cvalues.core.errors import CValuesError
from cvalues.core.version import __version__

app = typer.Typer(
    name="cvalues",
    help="Measure how well LLMs hold human values in Chinese (CValues: safety and responsibility).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cvalues {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """cvalues: Level-1 safety and Level-2 responsibility evaluation of Chinese LLMs."""


def _register() -> None:
    # Imported here so that `cvalues --help` does not pay for torch or SQLAlchemy imports.
    from cvalues.cli import datasets as datasets_cli
    from cvalues.cli import judge_eval as judge_eval_cli
    from cvalues.cli import mc as mc_cli

    app.add_typer(datasets_cli.app, name="datasets")
    app.add_typer(mc_cli.app, name="mc")

    from cvalues.cli import pairs as pairs_cli

    app.add_typer(pairs_cli.app, name="pairs")

    from cvalues.cli import models as models_cli

    app.add_typer(models_cli.app, name="models")

    from cvalues.cli import eval as eval_cli
    from cvalues.cli import generate as generate_cli
    from cvalues.cli import judge as judge_cli

    app.command("eval")(eval_cli.eval_command)

    app.command("generate")(generate_cli.generate)
    app.command("judge")(judge_cli.judge)

    from cvalues.cli import annotate as annotate_cli

    app.add_typer(annotate_cli.app, name="annotate")

    from cvalues.cli import report as report_cli

    app.command("report")(report_cli.report)
    app.command("compare")(report_cli.compare)
    app.command("judge-eval")(judge_eval_cli.judge_eval)


def _exit_interrupted() -> None:
    err_console.print("interrupted: work done so far is kept; re-run the same command to resume")
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit, not sys.exit: a local model may still be computing in a worker thread, and
    # interpreter shutdown under a live torch thread aborts the process. Everything finished is
    # already committed to the store, so skipping finalizers loses nothing.
    os._exit(130)


def _click_error_kind(exc: BaseException) -> str | None:
    """``"help"``, ``"usage"`` or ``"abort"`` for click's own exceptions, else None.

    Matched by class name because recent typer raises its vendored copy of click's exceptions
    (``typer._click``), which are not ``click``'s classes, while older typer raises ``click``'s.
    """
    names = {cls.__name__ for cls in type(exc).__mro__ if cls.__module__.split(".")[0] in ("click", "typer")}
    if "NoArgsIsHelpError" in names:
        return "help"
    if "ClickException" in names:
        return "usage"
    if "Abort" in names:
        return "abort"
    return None


def _usage_error_line(exc: BaseException) -> str:
    """click's message (it names the flag: "Invalid value for '--limit': ...") on one line."""
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    ctx = getattr(exc, "ctx", None)
    hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    return " ".join(f"{message}{hint}".split())


def main() -> None:
    """Run the CLI, mapping errors to the exit codes of DESIGN.md (2 bad input, 130 interrupted)."""
    _register()
    try:
        # Non-standalone mode returns typer.Exit's code instead of exiting, so pass it on.
        code = app(standalone_mode=False)
        if code == 130:  # recent typer turns KeyboardInterrupt into Exit(130)
            _exit_interrupted()
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except CValuesError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _exit_interrupted()
    except SystemExit:
        raise
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        kind = _click_error_kind(exc)
        if kind == "abort":
            _exit_interrupted()
        if kind == "help":  # a bare group (`cvalues`, `cvalues datasets`): its help is the message
            message = str(getattr(exc, "message", "") or "")
            if message:  # rich has printed the help already and left the message empty
                print(message, file=sys.stderr)
            sys.exit(2)
        if kind == "usage":
            err_console.print(
                f"[bold red]error:[/] {escape(_usage_error_line(exc))}", markup=True, highlight=False
            )
            sys.exit(2)
        raise
