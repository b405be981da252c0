"""A small run of benchmarks/annotate_load.py: concurrent annotators against a real server, on
SQLite and PostgreSQL; every submitted label must be in the store (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotate_support import REPO, fresh_database

_SPEC = importlib.util.spec_from_file_location("annotate_load", REPO / "benchmarks" / "annotate_load.py")
assert _SPEC is not None and _SPEC.loader is not None
annotate_load = importlib.util.module_from_spec(_SPEC)
sys.modules["annotate_load"] = annotate_load  # dataclasses look their module up while it runs
_SPEC.loader.exec_module(annotate_load)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def test_concurrent_annotators_lose_no_label(db_url: str, tmp_path: Path) -> None:
    result = annotate_load.run_load(db_url, 8, 3, 2, 120.0, tmp_path)
    assert (result.submitted, result.failed, result.stored) == (24, 0, 24)
    assert result.ok
