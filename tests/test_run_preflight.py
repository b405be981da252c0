"""What is checked or fixed around a run: --base-url syntax, one probe of the server, output file
modes under the umask, and replies cut by --max-tokens in the middle of a character."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import InputError
from cvalues.core.files import current_umask, write_json, write_jsonl
from cvalues.models.chat import drop_cut_character
from cvalues.models.server_probe import probe_server
from servers import RunningServer, free_port


@pytest.mark.parametrize(
    "url",
    ["localhost:8011", "127.0.0.1:8011/v1", "ftp://host/v1", "http://", "http://h:70000/v1", "http:/v1"],
)
def test_a_malformed_base_url_is_an_input_error_naming_the_flag(url: str) -> None:
    with pytest.raises(InputError) as caught:
        ModelSpec.parse("openai:m", base_url=url)
    assert caught.value.flag == "--base-url"


@pytest.mark.parametrize(
    "url", ["http://localhost:8011/v1", "https://api.example.com/v1", "http://[::1]:8000"]
)
def test_a_well_formed_base_url_is_kept(url: str) -> None:
    assert ModelSpec.parse("openai:m", base_url=url).base_url == url


def test_probing_a_port_where_nothing_listens_is_an_input_error() -> None:
    spec = ModelSpec.parse("openai:m", base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(InputError) as caught:
        probe_server(spec, timeout_s=2)
    assert caught.value.flag == "--base-url" and "cannot reach a server at" in str(caught.value)


def test_no_base_url_is_not_probed() -> None:
    probe_server(ModelSpec.parse("openai:gpt-4o"))  # the provider's API: nothing to probe here


@pytest.mark.server
def test_probing_a_running_server_passes(llama_server: RunningServer) -> None:
    probe_server(ModelSpec.parse("openai:smollm2", base_url=llama_server.base_url))


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_output_files_get_the_mode_the_umask_gives(tmp_path: Path, mask: int) -> None:
    previous = os.umask(mask)
    try:
        assert current_umask() == mask
        write_json(tmp_path / "results.json", {"答案": 1})
        write_jsonl(tmp_path / "samples.jsonl", [{"id": "1"}])
    finally:
        os.umask(previous)
    for name in ("results.json", "samples.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask


def test_only_a_cut_reply_loses_its_trailing_replacement_characters() -> None:
    assert drop_cut_character("你好\ufffd\ufffd", "length") == "你好"
    assert drop_cut_character("你好\ufffd", "stop") == "你好\ufffd"  # the model wrote it: kept
    assert drop_cut_character("\ufffd在中间", "length") == "\ufffd在中间"


def test_a_real_cut_in_the_smollm2_vocabulary_is_dropped(smollm2_gguf: Path) -> None:
    """llama.cpp's vocabulary (the server's): a Chinese character spans several tokens, so a reply
    stopped after the first of them ends in incomplete UTF-8, which decodes to U+FFFD."""
    from llama_cpp import Llama

    vocab = Llama(str(smollm2_gguf), vocab_only=True, verbose=False)
    tokens = vocab.tokenize("安全".encode(), add_bos=False)
    cut = next(
        n
        for n in range(1, len(tokens))
        if vocab.detokenize(tokens[:n]).decode(errors="replace")[-1] == "\ufffd"
    )
    text = vocab.detokenize(tokens[:cut]).decode("utf-8", errors="replace")
    assert text.endswith("\ufffd")
    assert "\ufffd" not in drop_cut_character(text, "length")


@pytest.mark.model
def test_the_transformers_decode_drops_a_cut_character(smollm2_backend) -> None:  # type: ignore[no-untyped-def]
    tokenizer = smollm2_backend._tokenizer
    tokens = tokenizer("安全", add_special_tokens=False)["input_ids"]
    assert len(tokens) > 1 and tokenizer.decode(tokens[:1]).endswith("\ufffd")  # a real cut
    # No EOS: stopped by the token limit.
    response = smollm2_backend._decode([0], tokens[:1], smollm2_backend.engine)
    assert response.extra["finish_reason"] == "length" and "\ufffd" not in (response.text or "")
    whole = smollm2_backend._decode([0], tokens, smollm2_backend.engine)
    assert whole.text == "安全"


def test_truncate_takes_left_or_right_only() -> None:
    from cvalues.cli.common import check_truncate

    assert check_truncate(None) is None and check_truncate("left") == "left"
    with pytest.raises(InputError) as caught:
        check_truncate("middle")
    assert caught.value.flag == "--truncate"
