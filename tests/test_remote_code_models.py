"""Models that ship their own code (config.json ``auto_map``): refused without --trust-remote-code,
loaded and run with it, with a chat format applied to the prompt and its stop string to the reply.

The model is a tiny random Llama saved with a remote-code wrapper class whose ``auto_map`` names
only ``AutoModel`` (as ChatGLM-6B's does): real transformers loading, real generation.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cli_support import run_cli
from cvalues.core.backend import ModelSpec
from cvalues.core.errors import BackendError, InputError
from cvalues.core.requests import GenerationSettings, Message, ModelRequest
from cvalues.models.availability import check_model_available

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

REMOTE_CODE = """
from transformers import LlamaConfig, LlamaForCausalLM


class TinyRemoteConfig(LlamaConfig):
    model_type = "tiny_remote"


class TinyRemoteForCausalLM(LlamaForCausalLM):
    config_class = TinyRemoteConfig
"""
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "<human>", ":", "<bot>", "\n", "你", "好", "回", "复", "1", "2"]


@pytest.fixture(scope="module")
def remote_code_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    folder = tmp_path_factory.mktemp("remote-code-model")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    raw = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    raw.add_tokens(["<human>", "<bot>"])
    raw.decoder = decoders.Fuse()
    raw.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    tokenizer.save_pretrained(folder)
    (folder / "modeling_tiny.py").write_text(REMOTE_CODE, encoding="utf-8")
    saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    saved["model_type"] = "tiny_remote"
    saved["architectures"] = ["TinyRemoteForCausalLM"]
    saved["auto_map"] = {
        "AutoConfig": "modeling_tiny.TinyRemoteConfig",
        "AutoModel": "modeling_tiny.TinyRemoteForCausalLM",
    }
    (folder / "config.json").write_text(json.dumps(saved), encoding="utf-8")
    return folder


def test_a_model_with_code_needs_the_flag(remote_code_model: Path) -> None:
    spec = ModelSpec.parse(f"hf:{remote_code_model}")
    with pytest.raises(InputError) as raised:
        check_model_available(spec)
    assert raised.value.flag == "--trust-remote-code"
    assert "modeling_tiny.TinyRemoteForCausalLM" in str(raised.value)
    check_model_available(ModelSpec.parse(f"hf:{remote_code_model}", trust_remote_code=True))


def test_cli_refuses_before_writing_anything(remote_code_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli("mc", "--model", f"hf:{remote_code_model}", "--out", out, "--limit", "1", cwd=tmp_path)
    assert result.code == 2
    assert "--trust-remote-code" in result.stderr and "ships its own model code" in result.stderr
    assert not out.exists() and not (tmp_path / "cvalues.db").exists()


def test_trusted_model_runs_with_its_chat_format(remote_code_model: Path) -> None:
    from cvalues.models.transformers import TransformersBackend

    spec = ModelSpec.parse(f"hf:{remote_code_model}", chat_format="ziya", trust_remote_code=True)
    backend = TransformersBackend(spec, device="cpu")
    assert type(backend.loaded.model).__name__ == "TinyRemoteForCausalLM"  # the shipped class
    request = ModelRequest(messages=(Message("user", "你好"),))
    prompt = backend.prompt_text(request, GenerationSettings())
    assert prompt == "<human>:你好\n<bot>:"
    # Tokenized as Ziya's code does: tokenizer(prompt), BOS first.
    assert backend.encode_prompt(prompt)[0] == VOCAB.index("<s>")
    assert backend._tokenizer.convert_ids_to_tokens(backend.encode_prompt(prompt)[1:3]) == ["<human>", ":"]
    [reply] = asyncio.run(backend.complete([request], GenerationSettings(max_tokens=12)))
    assert reply.ok and reply.text is not None and reply.output_tokens
    # A reply that runs on into the next turn is cut at the format's stop string.
    ids = backend._tokenizer("回复1<human>:你好", add_special_tokens=False)["input_ids"]
    cut = backend._decode([1], ids, backend.engine)
    assert cut.text == "回复1" and cut.extra["finish_reason"] == "stop"


def test_encoder_decoder_format_is_refused_by_the_backend(remote_code_model: Path) -> None:
    from cvalues.models.transformers import TransformersBackend

    spec = ModelSpec.parse(f"hf:{remote_code_model}", chat_format="chatplug", trust_remote_code=True)
    with pytest.raises(BackendError, match="Fusion-in-Decoder"):
        TransformersBackend(spec, device="cpu")
