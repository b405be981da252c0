"""What can be known about a model and an output directory before anything is loaded or written.

The backend itself is created only on the first request (so that a resume loads nothing);
without these checks a missing file would surface as every request failing, after the store and
the output directory were created.
"""

from __future__ import annotations

import os
from pathlib import Path

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import InputError
from cvalues.models.server_probe import probe_server
from cvalues.models.smollm2 import resolve_gguf_path
from cvalues.models.transformers.loading import check_remote_code


def check_out_dir(out: Path | None, flag: str = "--out") -> None:
    """An existing ``--out`` must be a directory (a file there would be overwritten otherwise)."""
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory", flag=flag)


def looks_like_path(name: str) -> bool:
    """A local path rather than a hub id (``org/name``, at most one slash)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def check_model_available(spec: ModelSpec, flag: str = "--model") -> None:
    """What can be known about the model without loading it, checked before anything is written.

    The backend itself is created only on the first request (so that a resume loads nothing);
    without this check a missing file would surface as every request failing, after the store
    and the output directory were created. ``flag`` names the option in the error (``--judge``
    for a judge model); a missing API key names ``--api-key-env`` whatever the flag.
    """
    if spec.provider == "gguf":
        path = resolve_gguf_path(spec.name)
        if not path.is_file():
            what = "is a directory, not a .gguf file" if path.is_dir() else "does not exist"
            raise InputError(f"GGUF file {path} {what}", flag=flag)
    elif spec.provider in ("hf", "vllm", "hf-rm"):
        path = Path(spec.name).expanduser()
        if path.exists():
            if spec.provider == "hf" and not (path / "config.json").is_file():
                raise InputError(f"{path} is not a model directory (no config.json in it)", flag=flag)
        elif looks_like_path(spec.name):
            raise InputError(
                f"model directory {spec.name} does not exist (a hub id looks like org/name)", flag=flag
            )
        if spec.provider == "hf" or path.exists():
            check_remote_code(spec)
    elif spec.provider == "openai" and spec.base_url is None and not os.environ.get(spec.api_key_env):
        raise InputError(
            f"no API key for {spec.key}: set the environment variable {spec.api_key_env}, "
            "or pass --base-url for a local server",
            flag="--api-key-env",
        )
    elif spec.provider == "openai":
        # One short look at the server: a server that is down is exit 2 now, not a run of failures.
        probe_server(spec)
