"""docs/python-api.md is a worked example: its Python blocks run, in order, with the real model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli_support import REPO

pytestmark = pytest.mark.model

DOC = REPO / "docs" / "python-api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_python_api_page_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_backend: object, cvalues_cache: Path
) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CVALUES_CACHE", str(cvalues_cache))  # the converted model, made once per session
    monkeypatch.setenv("CVALUES_DB", f"sqlite:///{tmp_path / 'docs.db'}")
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks, start=1):
        try:
            exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{DOC.name} block {number} failed: {exc!r}") from exc
    assert (tmp_path / "runs" / "nb" / "summary.json").is_file()
