"""Loading a local model for the transformers backend: ``hf:<dir-or-hub-id>`` or ``gguf:<file>``.

A GGUF file is de-quantised and its tokenizer converted by transformers
(``from_pretrained(dir, gguf_file=name)``), which takes tens of seconds. The result is saved
once with ``save_pretrained`` under ``$CVALUES_CACHE/gguf/<sha256 of the file>/`` and later
loads read that folder (well under a second for SmolLM2). The conversion is written to a
temporary folder beside it and renamed into place, so a crash or a second process converting
the same file never leaves a half-written cache entry. The key is the sha256 of the whole
file: a prefix could collide for fine-tunes that share their first tensors, and hashing is
fast next to the conversion.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvalues.core.backend import DTYPES, ModelSpec
from cvalues.core.errors import BackendError, InputError
from cvalues.models.smollm2 import resolve_gguf_path

log = logging.getLogger(__name__)

GGUF_CACHE_SUBDIR = "gguf"
_CACHE_MARKER = "cvalues-gguf-source.json"
_HASH_CHUNK = 1 << 22


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    device: Any
    # Where the weights were read from: the hub id or folder, or the converted GGUF cache folder.
    source: str
    # True when this load converted a GGUF file (and wrote the cache); False when it read the cache.
    converted_now: bool
    load_seconds: float


def resolve_device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as exc:
        raise InputError(f"unknown device {device!r} ({exc})", flag="--device") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but CUDA is not available here", flag="--device")
    return chosen


def resolve_dtype(dtype: str, device: Any) -> Any:
    import torch

    if dtype not in DTYPES:
        raise BackendError(f"dtype {dtype!r} must be one of {', '.join(DTYPES)}")
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # Half precision on CPU is slower than float32 and loses accuracy: float32 there.
    return torch.float32


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def gguf_cache_dir(gguf_file: Path, cache_root: Path) -> Path:
    return cache_root / GGUF_CACHE_SUBDIR / file_sha256(gguf_file)


def default_cache_root() -> Path:
    # One definition of CVALUES_CACHE for the whole toolkit.
    from cvalues.data.sources import cache_root

    return cache_root()


def load_local_model(
    spec: ModelSpec, *, device: str = "auto", dtype: str = "auto", cache_root: Path | None = None
) -> LoadedModel:
    """Load ``hf:`` or ``gguf:`` weights and tokenizer onto ``device`` in eval mode."""
    started = time.perf_counter()
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    if spec.provider == "gguf":
        gguf_file = resolve_gguf_path(spec.name)
        if not gguf_file.is_file():
            raise InputError(f"GGUF file {gguf_file} does not exist", flag="--model")
        folder, converted_now = _converted_gguf_folder(gguf_file, cache_root or default_cache_root())
        source = str(folder)
    elif spec.provider == "hf":
        source, converted_now = spec.name, False
    else:
        raise BackendError(f"the transformers backend loads hf: and gguf: models, not {spec.key}")
    model, tokenizer = _load_pretrained(source, torch_dtype)
    model.to(torch_device)
    model.eval()
    if tokenizer.pad_token_id is None:
        # Padding positions are masked out, so any token serves; EOS is always present.
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=torch_device,
        source=source,
        converted_now=converted_now,
        load_seconds=time.perf_counter() - started,
    )


def _load_pretrained(source: str, torch_dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load model {source!r} with transformers: {exc}") from exc
    return model, tokenizer


def transformers_folder_for_gguf(gguf_file: Path, cache_root: Path | None = None) -> Path:
    """A transformers model folder (config.json, safetensors, tokenizer) with the GGUF file's weights
    de-quantised, converted once into the cache: what vLLM and other loaders of model folders read."""
    return _converted_gguf_folder(gguf_file, cache_root or default_cache_root())[0]


def _converted_gguf_folder(gguf_file: Path, cache_root: Path) -> tuple[Path, bool]:
    target = gguf_cache_dir(gguf_file, cache_root)
    if target.is_dir():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        log.info("converting %s for transformers (once; cached in %s)", gguf_file, target)
        _convert_gguf(gguf_file, staging)
        (staging / _CACHE_MARKER).write_text(
            json.dumps({"gguf_file": str(gguf_file), "sha256": target.name}, ensure_ascii=False),
            encoding="utf-8",
        )
        try:
            staging.rename(target)
        except OSError:
            # Another process finished the same conversion first: its folder is as good as ours.
            if not target.is_dir():
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
    return target, True


def _convert_gguf(gguf_file: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    options: dict[str, Any] = {"dtype": torch.float32}
    try:
        # transformers >= 5 can keep GGUF blocks packed, which cannot be saved; ask for plain weights.
        from transformers import GgufConfig

        options["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:  # older transformers always de-quantise GGUF files
        pass
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, **options)
    except (OSError, ValueError, KeyError, NotImplementedError) as exc:
        raise BackendError(f"transformers cannot read GGUF file {gguf_file}: {exc}") from exc
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
