"""Writing run outputs atomically: a crash or Ctrl-C never leaves a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError


def current_umask() -> int:
    """The process umask. Linux reports it in /proc (no race); elsewhere the only way to read it is
    to set it and put it straight back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            # mkstemp creates the file 0600; a results file or report.html is meant to be shared,
            # so give it the mode open() would have (0666 less the umask).
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    _atomic_write(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    _atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


class AtomicLines:
    """A JSONL file written a line at a time to a temporary file beside it, put in place by
    ``commit`` (fsynced, renamed, the mode ``open()`` would give) or removed by ``discard``: a file
    of any length is written in the memory of one line, and a crash leaves no half-written file.
    As a context manager it commits on success and discards on an exception."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        self.path, self.tmp = path, Path(name)
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        self.count = 0

    def write(self, row: dict[str, Any]) -> None:
        self.handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.count += 1

    def commit(self) -> None:
        self.handle.flush()
        os.fchmod(self.handle.fileno(), 0o666 & ~current_umask())
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.handle.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicLines:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def slug(text: str) -> str:
    """A file-name-safe short form of a dataset or model name, for default output directories."""
    keep = [c if c.isalnum() or c in "-_." else "-" for c in Path(text).name or text]
    return "".join(keep).strip("-.")[:60] or "run"


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("file not found", path=path) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from exc
