"""Errors that the CLI turns into exit codes (see DESIGN.md, Contracts)."""

from __future__ import annotations

from pathlib import Path


class CValuesError(Exception):
    """Base class of every error the toolkit raises on purpose."""

    exit_code = 1


class InputError(CValuesError):
    """Bad input or usage: the message names the file and line, or the flag. Exit code 2."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        flag: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.flag = flag

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
        elif self.flag is not None:
            where = self.flag
        return f"{where}: {self.message}" if where else self.message


class DataIntegrityError(InputError):
    """Downloaded or cached data whose checksum does not match: never silently accepted."""


class BackendError(CValuesError):
    """A model backend could not be created or reached (bad spec, missing extra, server down)."""

    exit_code = 2
