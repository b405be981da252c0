"""Official sources: verified lookup in CVALUES_DATA_DIR, the cache, and a real download over loopback."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from cvalues.core.errors import DataIntegrityError, InputError
from cvalues.data import sources
from cvalues.data.encoding import git_blob_sha1
from cvalues.data.sources import fetch_official, official_source
from data_support import PROMPTS_FILE, SHARED_DATA, go_offline, local_mirror

PROMPTS = "cvalues-responsibility-prompts"
PROMPTS_REL = "X-PLUG/CValues/main/dataset/cvalues_responsibility_prompts.jsonl"
PROMPTS_SHA256 = "ee99050d4a8933829697c796e279b83795838feacefc84cdd06856bad01bfff4"


@pytest.fixture
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return go_offline(tmp_path, monkeypatch)


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_registry_entries_carry_the_published_digests() -> None:
    mc = official_source("cvalues-responsibility-mc")
    assert mc.git_blob_sha1 == "28849571207225647cb9882d55ea4a4c38509f5d"
    assert mc.sha256 is None
    assert mc.url.endswith("/X-PLUG/CValues/main/dataset/cvalues_responsibility_mc.jsonl")
    prompts = official_source(PROMPTS)
    assert (prompts.git_blob_sha1, prompts.sha256) == (
        "3fb1890eec3675e269aabe86e7a95e4129795352",
        PROMPTS_SHA256,
    )
    assert prompts.kind == "prompts"


def test_git_blob_sha1_matches_git() -> None:
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert git_blob_sha1(PROMPTS_FILE.read_bytes()) == official_source(PROMPTS).git_blob_sha1


def test_unknown_name_names_it_and_the_flag(offline_env: Path) -> None:
    with pytest.raises(InputError) as caught:
        fetch_official("no-such-set")
    assert "no-such-set" in str(caught.value) and "--dataset" in str(caught.value)


def test_download_verifies_caches_and_is_not_repeated(
    offline_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with local_mirror(tmp_path / "mirror") as mirror:
        mirror.place(PROMPTS_REL, PROMPTS_FILE.read_bytes())
        monkeypatch.setenv("CVALUES_MIRROR", mirror.url)
        first = fetch_official(PROMPTS)
        second = fetch_official(PROMPTS)
        assert mirror.requests == ["/" + PROMPTS_REL]  # the second fetch came from the cache
        third = fetch_official(PROMPTS, refresh=True)
        assert len(mirror.requests) == 2
    assert first == second == third == offline_env / "datasets" / PROMPTS / PROMPTS_FILE.name
    assert hashlib.sha256(first.read_bytes()).hexdigest() == PROMPTS_SHA256
    assert _files_under(offline_env) == [first]  # no temporary file left behind


def test_corrupted_download_is_refused_and_not_cached(
    offline_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bytearray(PROMPTS_FILE.read_bytes())
    data[100] ^= 0x01
    with local_mirror(tmp_path / "mirror") as mirror:
        mirror.place(PROMPTS_REL, bytes(data))
        monkeypatch.setenv("CVALUES_MIRROR", mirror.url)
        with pytest.raises(DataIntegrityError) as caught:
            fetch_official(PROMPTS)
    message = str(caught.value)
    assert PROMPTS_FILE.name in message and PROMPTS_SHA256 in message
    assert hashlib.sha256(bytes(data)).hexdigest() in message
    assert "\n" not in message
    assert _files_under(offline_env) == []


def test_damaged_cache_entry_is_replaced_by_a_verified_download(
    offline_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = offline_env / "datasets" / PROMPTS / PROMPTS_FILE.name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b'{"prompt": "tampered"}\n')
    with local_mirror(tmp_path / "mirror") as mirror:
        mirror.place(PROMPTS_REL, PROMPTS_FILE.read_bytes())
        monkeypatch.setenv("CVALUES_MIRROR", mirror.url)
        path = fetch_official(PROMPTS)
        assert len(mirror.requests) == 1
    assert path == cached and path.read_bytes() == PROMPTS_FILE.read_bytes()


def test_http_error_says_how_to_work_offline(
    offline_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with local_mirror(tmp_path / "empty-mirror") as mirror:
        (tmp_path / "empty-mirror").mkdir()
        monkeypatch.setenv("CVALUES_MIRROR", mirror.url)
        with pytest.raises(InputError) as caught:
            fetch_official(PROMPTS)
    message = str(caught.value)
    assert "HTTP 404" in message and "CVALUES_DATA_DIR" in message and "CVALUES_MIRROR" in message
    assert _files_under(offline_env) == []


def test_unreachable_server_is_an_input_error(offline_env: Path) -> None:
    with pytest.raises(InputError) as caught:
        fetch_official(PROMPTS)
    assert not isinstance(caught.value, DataIntegrityError)
    assert "CVALUES_DATA_DIR" in str(caught.value)


def test_data_dir_is_searched_recursively_and_used_without_network(
    offline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CVALUES_DATA_DIR", str(SHARED_DATA))
    assert fetch_official(PROMPTS) == PROMPTS_FILE  # the dead mirror proves no download was tried
    assert sources.offline_location(official_source(PROMPTS)) == "data dir"
    assert sources.offline_location(official_source("cvalues-responsibility-mc")) is None


def test_wrong_file_in_data_dir_is_refused(
    offline_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data" / "nested"
    data_dir.mkdir(parents=True)
    (data_dir / "cvalues_responsibility_mc.jsonl").write_text('{"prompt": "x"}\n', encoding="utf-8")
    monkeypatch.setenv("CVALUES_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataIntegrityError) as caught:
        fetch_official("cvalues-responsibility-mc")
    message = str(caught.value)
    assert "cvalues_responsibility_mc.jsonl" in message
    assert "28849571207225647cb9882d55ea4a4c38509f5d" in message  # expected: the git blob id
    assert git_blob_sha1(b'{"prompt": "x"}\n') in message  # and what the file has


def test_data_dir_that_is_not_a_directory_is_an_input_error(
    offline_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CVALUES_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(InputError, match="CVALUES_DATA_DIR"):
        fetch_official(PROMPTS)


def test_mirror_replaces_only_the_github_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    source = official_source(PROMPTS)
    monkeypatch.setenv("CVALUES_MIRROR", "https://mirror.example/raw")
    assert sources.download_url(source) == "https://mirror.example/raw/" + PROMPTS_REL
    other = replace(source, url="https://example.org/file.jsonl")
    assert sources.download_url(other) == "https://example.org/file.jsonl"


def test_unwritable_cache_is_an_input_error(
    offline_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("CVALUES_CACHE", str(blocker))
    with pytest.raises(InputError) as caught:
        fetch_official(PROMPTS)
    assert "CVALUES_CACHE" in str(caught.value) and "a-file" in str(caught.value)
