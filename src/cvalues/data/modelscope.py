"""The datasets the CValues authors published on ModelScope, fetched from there and checked.

CValues-Comparison (``damo/CValues-Comparison``: ``train.jsonl`` 116,536 pairs, ``test.jsonl``
29,133; prompts disjoint between them) and 100PoisonMpts (``damo/100PoisonMpts``). Files are
downloaded through ModelScope's file API at a pinned revision::

    {endpoint}/api/v1/datasets/{namespace}/{name}/repo?Revision={revision}&FilePath={file}

and cached under ``$CVALUES_CACHE/datasets/<name>/<revision>/``. The sha256 of each file is
checked against the one the project records; where none is recorded yet (the project has not
seen the file), the first download's sha256 is recorded beside the cache (``SHA256SUMS``),
printed, and every later copy must match it: a changed file is a DataIntegrityError, never
silently accepted. ``CVALUES_DATA_DIR`` (a folder holding ``<name>/<file>``) serves machines
without internet; ``CVALUES_MODELSCOPE_ENDPOINT`` points at a mirror (the tests' local server).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

from cvalues.core.errors import DataIntegrityError, InputError
from cvalues.data.sources import DOWNLOAD_TIMEOUT_S, ENV_DATA_DIR, cache_root

log = logging.getLogger(__name__)

ENV_ENDPOINT = "CVALUES_MODELSCOPE_ENDPOINT"
DEFAULT_ENDPOINT = "https://www.modelscope.cn"


@dataclass(frozen=True)
class ModelScopeSource:
    name: str
    repo: str  # namespace/name on ModelScope
    revision: str
    files: dict[str, str]  # split -> file path in the repository
    description: str
    licence: str
    sha256: dict[str, str] = field(default_factory=dict)  # split -> the sha256 the project records

    def url(self, split: str, endpoint: str | None = None) -> str:
        base = (endpoint or os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT).rstrip("/")
        query = f"Revision={quote(self.revision)}&FilePath={quote(self.files[split])}"
        return f"{base}/api/v1/datasets/{self.repo}/repo?{query}"


MODELSCOPE_SOURCES: dict[str, ModelScopeSource] = {
    source.name: source
    for source in (
        ModelScopeSource(
            name="cvalues-comparison",
            repo="damo/CValues-Comparison",
            revision="master",
            files={"train": "train.jsonl", "test": "test.jsonl"},
            description="CValues-Comparison: 145k (prompt, better, worse) pairs, three reply classes",
            licence="Apache-2.0",
        ),
        ModelScopeSource(
            name="100poisonmpts",
            repo="damo/100PoisonMpts",
            revision="master",
            files={"train": "train.jsonl"},
            description="100PoisonMpts: expert questions with expert-written or expert-approved answers",
            licence="see the ModelScope page",
        ),
    )
}


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    sha256: str
    recorded_now: bool  # the sha256 was not known before this download: it is now


def modelscope_source(name: str) -> ModelScopeSource | None:
    return MODELSCOPE_SOURCES.get(name)


def _cache_dir(source: ModelScopeSource) -> Path:
    return cache_root() / "datasets" / source.name / source.revision


def _recorded(source: ModelScopeSource, split: str) -> str | None:
    if split in source.sha256:
        return source.sha256[split]
    sums = _cache_dir(source) / "SHA256SUMS"
    if sums.is_file():
        for line in sums.read_text(encoding="utf-8").splitlines():
            digest, _, name = line.partition("  ")
            if name == source.files[split]:
                return digest
    return None


def _record(source: ModelScopeSource, split: str, digest: str) -> None:
    sums = _cache_dir(source) / "SHA256SUMS"
    sums.parent.mkdir(parents=True, exist_ok=True)
    with sums.open("a", encoding="utf-8") as handle:
        handle.write(f"{digest}  {source.files[split]}\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(source: ModelScopeSource, split: str, path: Path, digest: str) -> None:
    expected = _recorded(source, split)
    if expected is not None and expected != digest:
        raise DataIntegrityError(
            f"{source.files[split]} is not the {source.name} file this project recorded for revision "
            f"{source.revision}: expected sha256 {expected}, got {digest}",
            path=path,
        )


def fetch_modelscope(name: str, split: str) -> FetchedFile:
    """A verified local copy of one split: from CVALUES_DATA_DIR, the cache, or ModelScope."""
    source = MODELSCOPE_SOURCES.get(name)
    if source is None:
        raise InputError(
            f"unknown ModelScope dataset {name!r}; known: {', '.join(MODELSCOPE_SOURCES)}", flag="--dataset"
        )
    if split not in source.files:
        raise InputError(f"{name} has the splits {', '.join(source.files)}, not {split!r}", flag="--split")
    file_name = source.files[split]
    data_dir = os.environ.get(ENV_DATA_DIR)
    if data_dir:
        local = Path(data_dir).expanduser() / name / file_name
        if local.is_file():
            digest = _sha256(local)
            _check(source, split, local, digest)
            return FetchedFile(local, digest, recorded_now=False)
    cached = _cache_dir(source) / file_name
    if cached.is_file():
        digest = _sha256(cached)
        _check(source, split, cached, digest)
        return FetchedFile(cached, digest, recorded_now=False)
    return _download(source, split, cached)


def _download(source: ModelScopeSource, split: str, target: Path) -> FetchedFile:
    url = source.url(split)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with (
            os.fdopen(fd, "wb") as out,
            httpx.stream("GET", url, timeout=DOWNLOAD_TIMEOUT_S, follow_redirects=True) as r,
        ):
            if r.status_code != 200:
                raise InputError(
                    f"downloading {source.name} ({split}) from {url} failed: HTTP {r.status_code}"
                )
            for block in r.iter_bytes():
                out.write(block)
                digest.update(block)
        sha = digest.hexdigest()
        _check(source, split, tmp, sha)
        recorded_now = _recorded(source, split) is None
        os.replace(tmp, target)
    except httpx.HTTPError as exc:
        raise InputError(
            f"cannot download {source.name} ({split}) from {url}: {exc}; on a machine without internet, "
            f"put the file at ${ENV_DATA_DIR}/{source.name}/{source.files[split]}"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    if recorded_now:
        _record(source, split, sha)
        log.warning("%s %s: first download, sha256 %s recorded", source.name, split, sha)
    return FetchedFile(target, sha, recorded_now)


__all__ = ["MODELSCOPE_SOURCES", "FetchedFile", "ModelScopeSource", "fetch_modelscope", "modelscope_source"]
