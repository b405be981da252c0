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
    dtype: str = ""  # the precision the weights run in ("auto" resolved: "bfloat16", "float32", ...)


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
    # On CPU, bfloat16 only where the cores compute it natively (AVX512-BF16 or AMX); emulated
    # half precision is slower than float32. benchmarks/RESULTS.md records the accuracy cost.
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has bfloat16 instructions: the kernel's CPU flags, or torch's own probe
    where there is no /proc/cpuinfo (torch's probe is private, so it is only a fallback)."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("flags"):
                return bool(CPU_BF16_FLAGS & set(line.partition(":")[2].split()))
    except OSError:
        pass
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


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
    check_remote_code(spec, source)
    model, tokenizer = _load_pretrained(source, torch_dtype, trust_remote_code=spec.trust_remote_code)
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
        dtype=str(torch_dtype).removeprefix("torch."),
    )


def model_auto_map(source: str) -> dict[str, Any] | None:
    """The ``auto_map`` of a model's config.json (a local folder, or a hub id already cached)."""
    config_path = Path(source).expanduser() / "config.json"
    if not config_path.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(source, "config.json")
        except Exception:  # not a valid repo id, or no hub client: nothing to know before loading
            return None
        if not isinstance(cached, str):
            return None
        config_path = Path(cached)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    auto_map = config.get("auto_map") if isinstance(config, dict) else None
    return auto_map if isinstance(auto_map, dict) and auto_map else None


def check_remote_code(spec: ModelSpec, source: str | None = None) -> None:
    """An InputError naming ``--trust-remote-code`` when the model ships code and the flag is off."""
    if spec.trust_remote_code:
        return
    auto_map = model_auto_map(source or spec.name)
    if auto_map:
        classes = ", ".join(sorted({str(v) if isinstance(v, str) else str(v[0]) for v in auto_map.values()}))
        raise InputError(
            f"{spec.name} ships its own model code ({classes}); read it, then pass --trust-remote-code "
            "to run it",
            flag="--trust-remote-code",
        )


def _load_pretrained(source: str, torch_dtype: Any, *, trust_remote_code: bool = False) -> tuple[Any, Any]:
    import transformers

    model_class: Any = transformers.AutoModelForCausalLM
    auto_map = model_auto_map(source) if trust_remote_code else None
    if auto_map and "AutoModelForCausalLM" not in auto_map and "AutoModel" in auto_map:
        model_class = transformers.AutoModel
    options: dict[str, Any] = {"trust_remote_code": True} if trust_remote_code else {}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **options)
        model = model_class.from_pretrained(source, dtype=torch_dtype, **options)
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
