"""Running the real ``cvalues`` command as a user would: in this process, or in a subprocess.

``run_cli`` calls the console script's own ``main()`` in this process, with the arguments, the
environment and the working folder the command would get, and returns its exit code, stdout and
stderr. A subprocess would add a fresh interpreter and ~2-3 s of imports (torch, transformers,
SQLAlchemy) to each of the ~100 CLI runs in the suite and prove nothing more about the command;
``run_cli(..., subprocess=True)`` still runs it as ``python -m cvalues`` where the process matters
(the entry point, signals, a second process reading the same store), and
``CVALUES_TEST_CLI_SUBPROCESS=1`` runs every CLI test that way.
"""

from __future__ import annotations

import io
import json
import os
import subprocess as _subprocess
import sys
import threading
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvalues.scoring.metrics import ScoredSample, compute_mc_metrics

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def cli_env(cache: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CVALUES_")}
    if cache is not None:
        env["CVALUES_CACHE"] = str(cache)
    env["COLUMNS"] = "160"
    env.update(extra)
    return env


def run_cli(
    *args: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    subprocess: bool = False,
) -> Result:
    """``cvalues ARGS`` with ``env`` as its whole environment and ``cwd`` as its folder.

    In this process unless ``subprocess`` is set; ``timeout`` applies to a subprocess only.
    """
    env = env or cli_env()
    if subprocess or os.environ.get("CVALUES_TEST_CLI_SUBPROCESS") == "1" or _starts_python_differently(env):
        proc = _subprocess.run(
            [sys.executable, "-m", "cvalues", *map(str, args)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=cwd,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)
    return _run_cli_in_process([str(arg) for arg in args], env, cwd)


def _starts_python_differently(env: dict[str, str]) -> bool:
    """True when ``env`` sets up the interpreter itself (PYTHONPATH: an installed plugin's entry
    points, ...), which only a fresh interpreter honours."""
    names = {name for name in (*env, *os.environ) if name.startswith("PYTHON")}
    return any(env.get(name) != os.environ.get(name) for name in names)


# One in-process run at a time: the environment, the folder, sys.argv and the standard streams are
# the process's own. Tests that ran the CLI from threads get the runs one after another.
_IN_PROCESS = threading.Lock()


def _run_cli_in_process(args: list[str], env: dict[str, str], cwd: Path | None) -> Result:
    from cvalues.cli import app as cli_app

    out, err = io.StringIO(), io.StringIO()
    with _IN_PROCESS:
        saved_env, saved_argv, saved_cwd = dict(os.environ), sys.argv, os.getcwd()
        saved_stdin, saved_exit = sys.stdin, os._exit
        register = cli_app._register
        try:
            # The same os.environ object, emptied and refilled: rich consoles hold a reference to it.
            os.environ.clear()
            os.environ.update(env)
            if cwd is not None:
                os.chdir(cwd)
            sys.argv = ["cvalues", *args]
            sys.stdin = io.StringIO()  # nothing to read, and not a terminal
            os._exit = _raise_exit  # an interrupt ends the command, not the test session
            if cli_app.app.registered_groups:  # main() registers the command groups; once is enough
                cli_app._register = lambda: None
            with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
                # Python's own defaults, as a fresh `python -m cvalues` has them (not pytest's
                # filters, which would swallow a warning the user sees), printed to this stderr.
                warnings.resetwarnings()
                for category in (
                    DeprecationWarning,
                    PendingDeprecationWarning,
                    ImportWarning,
                    ResourceWarning,
                ):
                    warnings.simplefilter("ignore", category)
                warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
                warnings.showwarning = _warning_to(err)
                code = _exit_code(cli_app.main)
        finally:
            cli_app._register = register
            sys.argv, sys.stdin, os._exit = saved_argv, saved_stdin, saved_exit
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
    return Result(code, out.getvalue(), err.getvalue())


def _raise_exit(code: int) -> None:
    raise SystemExit(code)


def _exit_code(main: Any) -> int:
    try:
        main()
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)  # sys.exit("message"): printed, exit status 1
        return 1
    return 0


def _warning_to(stream: io.StringIO) -> Any:
    def show(
        message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        stream.write(warnings.formatwarning(message, category, filename, lineno, line))

    return show


def read_samples(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]


def recompute_from_samples(out: Path) -> dict[str, Any]:
    """The metrics as anyone could recompute them from samples.jsonl alone."""
    samples = [
        ScoredSample(
            id=r["id"],
            label=r["label"],
            pred=r["pred"],
            domain=r["domain"],
            difficulty=r["difficulty"],
            scenario=r["scenario"],
            pair_id=r["pair_id"],
            question_key=r["question_key"],
            n_options=r.get("n_options") or 0,
        )
        for r in read_samples(out)
        if r["pred"] is not None
    ]
    return compute_mc_metrics(samples)


def score_response_file(
    path: Path, *, out_dir: Path | None = None, **options: Any
) -> tuple[dict[str, Any], list]:
    """(results.json, samples) of `cvalues mc score` on ``path`` through the Python API."""
    from cvalues.api import mc_score

    results = mc_score(path, out=out_dir, **options)
    return results.to_json(), [sample.model_dump(mode="json") for sample in results.samples]
