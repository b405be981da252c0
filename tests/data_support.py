"""Shared helpers of the dataset tests: the real public data, an offline environment, a local mirror."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# ../shared/data beside the repository: always present in CI, so nothing here is ever skipped.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PROMPTS_FILE = SHARED_DATA / "cvalues-responsibility-prompts" / "cvalues_responsibility_prompts.jsonl"
MOONSHOT_FILE = SHARED_DATA / "cvalues-responsibility-mc-moonshot" / "cvalues.json"
COMPARISON_FILE = SHARED_DATA / "cvalues-comparison-sample" / "one.jsonl"
JADE_HARD_FILE = SHARED_DATA / "jade-db" / "jade_alignment_hard_zh.csv"
JADE_MEDIUM_FILE = SHARED_DATA / "jade-db" / "jade_alignment_medium_zh.csv"

# Nothing listens on the discard port of loopback: a request there fails at once, never goes out.
DEAD_MIRROR = "http://127.0.0.1:9/"


def go_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No data dir, an empty cache under tmp_path (returned), and a mirror that refuses connections."""
    cache = tmp_path / "cache"
    monkeypatch.delenv("CVALUES_DATA_DIR", raising=False)
    monkeypatch.setenv("CVALUES_CACHE", str(cache))
    monkeypatch.setenv("CVALUES_MIRROR", DEAD_MIRROR)
    return cache


@dataclass
class Mirror:
    url: str
    root: Path
    requests: list[str] = field(default_factory=list)

    def place(self, relative: str, data: bytes) -> None:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@contextmanager
def local_mirror(root: Path) -> Iterator[Mirror]:
    """A real HTTP server on 127.0.0.1 serving ``root``, recording every path requested."""
    mirror = Mirror(url="", root=root)

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            mirror.requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    mirror.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield mirror
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def shortest_mc_requests(n: int, among: int = 40) -> list:
    """Logprob-mode MC requests (mc_zh) of the ``n`` shortest prompts among the first ``among`` items
    of the moonshot Level-2 set; both orders of a pair are equally long, so pairs stay whole.

    For tests that compare two engines: on 2 CPU cores the prompts' prefill is what they spend
    their time on (the first 40 items run 650-1,280 tokens)."""
    from cvalues.data.resolve import load_mc_dataset
    from cvalues.tasks.mc import build_requests, load_template

    items = load_mc_dataset(str(MOONSHOT_FILE)).items[:among]
    requests = build_requests(items, load_template(None, builtin="mc_zh"), "logprob")
    by_length = sorted(requests, key=lambda r: sum(len(m.content) for m in r.messages))
    return by_length[:n]
