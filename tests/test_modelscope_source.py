"""CValues-Comparison from ModelScope: fetched through ModelScope's file API (a real HTTP server on
loopback that serves the shared sample in ModelScope's layout), checksummed, cached, and read
offline from CVALUES_DATA_DIR."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from cli_support import cli_env, run_cli
from cvalues.core.errors import DataIntegrityError
from cvalues.data import modelscope
from cvalues.data.modelscope import fetch_modelscope
from data_support import COMPARISON_FILE, DEAD_MIRROR


@contextmanager
def modelscope_server(root: Path) -> Iterator[tuple[str, list[str]]]:
    """Serves ``root/<namespace>/<name>/<revision>/<file>`` at ModelScope's dataset file API path."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            url = urlparse(self.path)
            query = parse_qs(url.query)
            parts = url.path.strip("/").split("/")  # api v1 datasets NS NAME repo
            if parts[:3] != ["api", "v1", "datasets"] or parts[5:] != ["repo"]:
                self.send_error(404)
                return
            file = root / parts[3] / parts[4] / query["Revision"][0] / query["FilePath"][0]
            if not file.is_file():
                self.send_error(404)
                return
            data = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def published(tmp_path: Path) -> Path:
    root = tmp_path / "modelscope"
    folder = root / "damo" / "CValues-Comparison" / "master"
    folder.mkdir(parents=True)
    (folder / "test.jsonl").write_bytes(COMPARISON_FILE.read_bytes())
    (folder / "train.jsonl").write_bytes(
        COMPARISON_FILE.read_bytes()[: COMPARISON_FILE.read_bytes().index(b"\n") + 1]
    )
    return root


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CVALUES_DATA_DIR", raising=False)
    monkeypatch.setenv("CVALUES_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_first_download_records_the_checksum_and_later_copies_must_match(
    published: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with modelscope_server(published) as (url, requests):
        monkeypatch.setenv("CVALUES_MODELSCOPE_ENDPOINT", url)
        first = fetch_modelscope("cvalues-comparison", "test")
        assert first.recorded_now and first.path.read_bytes() == COMPARISON_FILE.read_bytes()
        assert requests == [
            "/api/v1/datasets/damo/CValues-Comparison/repo?Revision=master&FilePath=test.jsonl"
        ]
        again = fetch_modelscope("cvalues-comparison", "test")
        assert (
            again.sha256 == first.sha256 and not again.recorded_now and len(requests) == 1
        )  # from the cache
    first.path.write_bytes(first.path.read_bytes() + b"\n")  # the cached copy changes behind our back
    with pytest.raises(DataIntegrityError, match="expected sha256"):
        fetch_modelscope("cvalues-comparison", "test")


def test_a_wrong_checksum_is_refused_and_nothing_is_cached(
    published: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinned = replace(modelscope.MODELSCOPE_SOURCES["cvalues-comparison"], sha256={"test": "0" * 64})
    monkeypatch.setitem(modelscope.MODELSCOPE_SOURCES, "cvalues-comparison", pinned)
    with modelscope_server(published) as (url, _):
        monkeypatch.setenv("CVALUES_MODELSCOPE_ENDPOINT", url)
        with pytest.raises(DataIntegrityError, match="0000000000"):
            fetch_modelscope("cvalues-comparison", "test")
    assert not any(p.is_file() and p.suffix == ".jsonl" for p in fresh_cache.rglob("*"))


def test_offline_the_data_dir_serves_the_file(
    tmp_path: Path, published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "cvalues-comparison").mkdir(parents=True)
    (data_dir / "cvalues-comparison" / "test.jsonl").write_bytes(COMPARISON_FILE.read_bytes())
    env = cli_env(tmp_path / "cache", CVALUES_DATA_DIR=str(data_dir), CVALUES_MODELSCOPE_ENDPOINT=DEAD_MIRROR)
    out = tmp_path / "mc.jsonl"
    result = run_cli(
        "pairs", "build-mc", "--dataset", "cvalues-comparison", "--split", "test", "--out", out, env=env
    )
    assert result.code == 0, result.stderr
    assert "wrote 16 MC items" in result.stdout
    missing = run_cli(
        "pairs", "build-mc", "--dataset", "cvalues-comparison", "--split", "train", "--out", out, env=env
    )
    assert missing.code == 2 and "CVALUES_DATA_DIR" in missing.stderr and "Traceback" not in missing.stderr


def test_datasets_fetch_prints_each_split_and_its_sha256(tmp_path: Path, published: Path) -> None:
    with modelscope_server(published) as (url, _):
        env = cli_env(tmp_path / "cache", CVALUES_MODELSCOPE_ENDPOINT=url)
        result = run_cli("datasets", "fetch", "cvalues-comparison", env=env)
    assert result.code == 0, result.stderr
    assert (
        "train sha256:" in result.stdout and "test sha256:" in result.stdout and "recorded" in result.stdout
    )
