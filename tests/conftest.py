"""Shared pytest fixtures. Each block belongs to one part of the toolkit; add new blocks below."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from servers import RunningServer, llama_server_missing, start_llama_server, stop_server

# The terminal width cli_support.cli_env gives every CLI run, set before any test module imports
# cvalues.cli: its rich consoles read COLUMNS once, when created, and the in-process runs share them.
os.environ.setdefault("COLUMNS", "160")

if TYPE_CHECKING:
    from cvalues.models.transformers import TransformersBackend

# ---- markers: the fast subset for daily work is `pytest -m "not slow and not model and not server and
# not browser and not postgres"` (README). Browser and PostgreSQL tests are marked here, by what they
# use, so that no test file has to remember it.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in item.path.name:
            item.add_marker(pytest.mark.browser)
        callspec = getattr(item, "callspec", None)
        if "postgres" in item.nodeid or (
            callspec is not None and "postgresql" in map(str, callspec.params.values())
        ):
            item.add_marker(pytest.mark.postgres)


# ---- timing: CVALUES_TEST_CPU_LOG=FILE writes each test phase's CPU seconds (this process and the
# subprocesses it waited for) and wall seconds, one JSON line each. On a shared machine the wall
# time says how busy the machine was; the CPU time says what the test costs.


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    log = os.environ.get("CVALUES_TEST_CPU_LOG")
    if not log:
        yield
        return
    phases: dict[str, list[float]] = {}
    start_cpu, start_wall = _cpu_seconds(), time.perf_counter()
    item.stash[_PHASES] = phases
    yield
    phases["total"] = [_cpu_seconds() - start_cpu, time.perf_counter() - start_wall]
    with open(log, "a", encoding="utf-8") as out:
        out.write(json.dumps({"test": item.nodeid, **phases, "outcome": item.stash.get(_OUTCOME, "")}) + "\n")


_PHASES = pytest.StashKey[dict[str, list[float]]]()
_OUTCOME = pytest.StashKey[str]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    yield from _timed(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield from _timed(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield from _timed(item, "teardown")


def _timed(item: pytest.Item, phase: str) -> Iterator[None]:
    phases = item.stash.get(_PHASES, None)
    start_cpu, start_wall = _cpu_seconds(), time.perf_counter()
    yield
    if phases is not None:
        phases[phase] = [_cpu_seconds() - start_cpu, time.perf_counter() - start_wall]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed or (report.when == "call" and _OUTCOME not in item.stash):
        item.stash[_OUTCOME] = f"{report.when} {report.outcome}" if report.failed else report.outcome


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# ---- model backends (src/cvalues/models): the real SmolLM2 model, on a server and in-process ----
#
# Converting the SmolLM2 GGUF for transformers takes ~30-60 s, so it happens once per session:
# `smollm2_backend` converts into `cvalues_cache`. A test that loads `gguf:` by itself (e.g.
# through the CLI) should request `smollm2_backend` first and set CVALUES_CACHE to
# `cvalues_cache`, and it then reads the converted model in under a second.


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    from cvalues.models.smollm2 import smollm2_gguf_path

    return smollm2_gguf_path()


@pytest.fixture(scope="session")
def cvalues_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CVALUES_CACHE folder shared by the whole session."""
    return tmp_path_factory.mktemp("cvalues-cache")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory, smollm2_gguf: Path) -> Iterator[RunningServer]:
    """llama.cpp's OpenAI-compatible server on 127.0.0.1, serving SmolLM2 as model "smollm2"."""
    missing = llama_server_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    server = start_llama_server(smollm2_gguf, log_path)
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def smollm2_backend(cvalues_cache: Path, smollm2_gguf: Path) -> TransformersBackend:
    """SmolLM2 in-process on CPU (transformers), converted into `cvalues_cache`."""
    from cvalues.core.backend import ModelSpec
    from cvalues.models.transformers import TransformersBackend

    spec = ModelSpec(provider="gguf", name=str(smollm2_gguf))
    # float32 whatever the CPU: the tests compare against plain transformers and llama.cpp to
    # float32 rounding ("auto" picks bfloat16 on CPUs with native bfloat16).
    return TransformersBackend(spec, batch_size=8, device="cpu", dtype="float32", cache_root=cvalues_cache)


@pytest.fixture(scope="session")
def smollm2_hf_dir(cvalues_cache: Path, smollm2_gguf: Path) -> Path:
    """SmolLM2 as a transformers model folder (what vLLM loads), converted once into `cvalues_cache`
    (the same folder `smollm2_backend` reads)."""
    from cvalues.models.transformers.loading import transformers_folder_for_gguf

    return transformers_folder_for_gguf(smollm2_gguf, cvalues_cache)


# ---- end of model backends block ----


# ---- the SIGINT handler is the process's: a test (or a library it drives in-process) that leaves
# it changed would make later Ctrl-C tests, and child processes (which inherit an ignored SIGINT),
# behave differently. Restored after each test, and the first culprit named in the output.


@pytest.fixture(autouse=True)
def _sigint_handler_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with Python's own SIGINT handler and SIGINT unblocked (what a user's shell
    gives ``cvalues``), whatever ran before it; a test that left them otherwise is logged."""
    import signal

    handler = signal.getsignal(signal.SIGINT)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    if handler is not signal.default_int_handler or signal.SIGINT in blocked:
        _note_signal_change(f"before {request.node.nodeid}: SIGINT handler {handler!r}, blocked {blocked!r}")
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not signal.default_int_handler:
        _note_signal_change(f"{request.node.nodeid} left SIGINT handler {after!r}; restored")
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []):
        _note_signal_change(f"{request.node.nodeid} left SIGINT blocked; unblocked")
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def _note_signal_change(message: str) -> None:
    """Into a file beside the temporary folders: pytest swallows the output of passing tests."""
    import tempfile

    with (Path(tempfile.gettempdir()) / "cvalues-test-signals.log").open("a", encoding="utf-8") as log:
        log.write(message + "\n")
