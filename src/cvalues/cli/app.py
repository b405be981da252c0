"""The ``cvalues`` console entry point: one Typer app, one module per command group."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from cvalues import __version__
from cvalues.errors import CValuesError

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
    from cvalues.cli import mc as mc_cli

    app.add_typer(datasets_cli.app, name="datasets")
    app.add_typer(mc_cli.app, name="mc")


def _exit_interrupted() -> None:
    err_console.print("interrupted: work done so far is kept; re-run the same command to resume")
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit, not sys.exit: a local model may still be computing in a worker thread, and
    # interpreter shutdown under a live torch thread aborts the process. Everything finished is
    # already committed to the store, so skipping finalizers loses nothing.
    os._exit(130)


def main() -> None:
    """Run the CLI, mapping errors to the exit codes of DESIGN.md (2 bad input, 130 interrupted)."""
    _register()
    try:
        # Non-standalone mode returns typer.Exit's code instead of exiting, so pass it on.
        code = app(standalone_mode=False)
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
        import click

        if isinstance(exc, click.exceptions.Abort):
            _exit_interrupted()
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise
