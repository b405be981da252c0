"""Starting a real OpenAI-compatible server for tests: llama.cpp's, serving the SmolLM2 GGUF."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SERVER_MODEL_ALIAS = "smollm2"
READY_TIMEOUT_S = 120.0
INSTALL_HINT = "pip install 'llama-cpp-python[server]'"


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def llama_server_missing() -> str | None:
    """Why the llama.cpp server cannot start here, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed: {INSTALL_HINT}"
    for module in ("uvicorn", "fastapi", "sse_starlette", "pydantic_settings"):
        if importlib.util.find_spec(module) is None:
            return f"llama-cpp-python's server extra is missing ({module}): {INSTALL_HINT}"
    return None


def llama_server_command(model_path: Path, port: int) -> list[str]:
    threads = str(max(1, min(4, os.cpu_count() or 1)))
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        SERVER_MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        threads,
        # Keep the logits of every position: chat completions need them to return logprobs.
        "--logits_all",
        "true",
        "--seed",
        "0",
        "--verbose",
        "false",
    ]


def start_llama_server(model_path: Path, log_path: Path, timeout_s: float = READY_TIMEOUT_S) -> RunningServer:
    port = free_port()
    return start_server(llama_server_command(model_path, port), port, log_path, timeout_s)


def vllm_server_command(model_dir: Path, port: int) -> list[str]:
    """``vllm serve`` (the module form, so it runs in this interpreter's venv), small on CPU."""
    return [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--served-model-name",
        SERVER_MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--max-model-len",
        "1024",  # the tests' prompts are under 800 tokens; a smaller window, a smaller engine
        "--enforce-eager",
        "--seed",
        "0",
    ]


def start_vllm_server(model_dir: Path, log_path: Path, timeout_s: float = 600.0) -> RunningServer:
    port = free_port()
    return start_server(vllm_server_command(model_dir, port), port, log_path, timeout_s)


def start_server(command: list[str], port: int, log_path: Path, timeout_s: float) -> RunningServer:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = RunningServer(process=process, port=port, log_path=log_path)
    try:
        wait_until_ready(server, timeout_s)
    except BaseException:
        stop_server(server)
        raise
    return server


def wait_until_ready(server: RunningServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with code {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=2) as reply:
                if reply.status == 200 and json.load(reply).get("data"):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not ready after {timeout_s:g} s:\n{server.log_tail()}")


def stop_server(server: RunningServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
