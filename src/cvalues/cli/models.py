"""``cvalues models``: conversation formats of models without a chat template.

``render`` prints the exact string a model receives for a prompt (and its history), so a user
can compare it with the model's own demo code character by character; ``formats`` lists them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cvalues.core.errors import InputError

app = typer.Typer(
    help="Conversation formats of local models (the CValues paper's models).", no_args_is_help=True
)
console = Console()


def read_history(path: Path) -> list[tuple[str, str]]:
    """``--history FILE``: a JSON list of [user, assistant] pairs."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, list):
        raise InputError("must be a JSON list of [user, assistant] pairs", path=path)
    pairs = []
    for index, pair in enumerate(data):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)):
            raise InputError(f"entry {index} must be a [user, assistant] pair of strings", path=path)
        pairs.append((pair[0], pair[1]))
    return pairs


@app.command("render")
def render(
    chat_format: str = typer.Option(
        ..., "--chat-format", help="A built-in format name or a Jinja template file."
    ),
    prompt: str = typer.Option(..., "--prompt", help="The user's message (the current question)."),
    history: Path = typer.Option(None, "--history", help="JSON file: a list of [user, assistant] pairs."),
    system: str = typer.Option(
        None, "--system", help="A system message (where the format has a slot for it)."
    ),
    as_json: bool = typer.Option(False, "--json", help='Print {"prompt": ..., "stop": [...]} as JSON.'),
) -> None:
    """Print the exact string the model would receive."""
    from cvalues.models.chat_formats import load_chat_format, resolve_chat_format_option

    chosen = load_chat_format(resolve_chat_format_option(chat_format))
    messages = [] if system is None else [{"role": "system", "content": system}]
    for user, assistant in read_history(history) if history is not None else []:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    messages.append({"role": "user", "content": prompt})
    rendered = chosen.render(messages)
    if as_json:
        sys.stdout.write(json.dumps(rendered.to_dict(), ensure_ascii=False) + "\n")
    else:
        # Written as is: no markup, no wrapping, no added newline inside the prompt.
        sys.stdout.write(rendered.prompt)
        if not rendered.prompt.endswith("\n"):
            sys.stdout.write("\n")
    sys.stdout.flush()


@app.command("formats")
def formats() -> None:
    """List the built-in conversation formats and where each was read."""
    from cvalues.models.chat_formats import BUILTIN_FORMATS

    table = Table("name", "aliases", "stop", "source", show_lines=True)
    for item in BUILTIN_FORMATS:
        table.add_row(item.name, ", ".join(item.aliases), " ".join(item.stop), "\n".join(item.sources) or "-")
    console.print(table)
