"""The official datasets: where they live, how to check them, and how to get a verified local copy.

The registry is data: adding a dataset is one more ``OfficialSource`` in ``OFFICIAL_SOURCES``.
Every file handed out (from ``CVALUES_DATA_DIR``, the cache or the network) has been checked
against its digests first; a mismatch is a DataIntegrityError and a bad file never stays cached.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from cvalues.core.errors import DataIntegrityError, InputError
from cvalues.core.files import current_umask
from cvalues.core.registry import DATASETS
from cvalues.data.encoding import git_blob_sha1, sha256_bytes

log = logging.getLogger(__name__)

ENV_DATA_DIR = "CVALUES_DATA_DIR"
ENV_CACHE = "CVALUES_CACHE"
ENV_MIRROR = "CVALUES_MIRROR"
GITHUB_RAW = "https://raw.githubusercontent.com/"
DOWNLOAD_TIMEOUT_S = 60.0

SourceKind = Literal["mc", "prompts"]


@dataclass(frozen=True)
class OfficialSource:
    """A published file and the digests it must have (git blob id and/or sha256)."""

    name: str
    description: str
    url: str
    filename: str
    kind: SourceKind
    licence: str
    git_blob_sha1: str | None = None
    sha256: str | None = None
    # How to read it as an MC set (see data/resolve.py); None for prompt sets.
    mc_format: str | None = None


OFFICIAL_SOURCES: tuple[OfficialSource, ...] = (
    OfficialSource(
        name="cvalues-responsibility-mc",
        description="CValues responsibility multi-choice, 1,712 rows (official file)",
        url=GITHUB_RAW + "X-PLUG/CValues/main/dataset/cvalues_responsibility_mc.jsonl",
        filename="cvalues_responsibility_mc.jsonl",
        kind="mc",
        licence="Apache-2.0",
        # The authors publish no sha256; the git blob id from the repository identifies the content.
        git_blob_sha1="28849571207225647cb9882d55ea4a4c38509f5d",
        mc_format="official-mc",
    ),
    OfficialSource(
        name="cvalues-responsibility-prompts",
        description="CValues responsibility expert prompts, 664 in 8 domains",
        url=GITHUB_RAW + "X-PLUG/CValues/main/dataset/cvalues_responsibility_prompts.jsonl",
        filename="cvalues_responsibility_prompts.jsonl",
        kind="prompts",
        licence="Apache-2.0",
        git_blob_sha1="3fb1890eec3675e269aabe86e7a95e4129795352",
        sha256="ee99050d4a8933829697c796e279b83795838feacefc84cdd06856bad01bfff4",
    ),
    OfficialSource(
        name="cvalues-responsibility-mc-moonshot",
        # Same rows, another shape: A/B order reshuffled, easy/hard lost, domains joined from the prompts.
        description="the same multi-choice set as converted by aiverify moonshot-data",
        url=GITHUB_RAW + "aiverify-foundation/moonshot-data/main/datasets/cvalues.json",
        filename="cvalues.json",
        kind="mc",
        licence="Apache-2.0",
        git_blob_sha1="f13d10a84ca2aba8a3805b87c84449722c4b39df",
        sha256="4f266bcc6326a4371653cdee4c0f613d44210ca156c4b64cd3647047a884e38a",
        mc_format="moonshot",
    ),
)

SOURCES_BY_NAME: dict[str, OfficialSource] = {source.name: source for source in OFFICIAL_SOURCES}
for _source in OFFICIAL_SOURCES:  # the built-ins; a plugin adds an OfficialSource by entry point
    DATASETS.register(_source.name, _source)


def find_source(name: str) -> OfficialSource | None:
    """A named dataset source: built in, or added by a plugin (``cvalues.datasets`` entry points)."""
    found = SOURCES_BY_NAME.get(name) or DATASETS.find(name)
    if found is not None and not isinstance(found, OfficialSource):
        raise InputError(
            f"the dataset plugin {name!r} is a {type(found).__name__}, not a cvalues.data.OfficialSource"
        )
    return found


def official_source(name: str) -> OfficialSource:
    found = find_source(name)
    if found is None:
        known = ", ".join(DATASETS.names())
        raise InputError(f"unknown official dataset {name!r}; known: {known}", flag="--dataset")
    return found


def cache_root() -> Path:
    configured = os.environ.get(ENV_CACHE)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("cvalues"))


def cached_path(source: OfficialSource) -> Path:
    return cache_root() / "datasets" / source.name / source.filename


def download_url(source: OfficialSource) -> str:
    mirror = os.environ.get(ENV_MIRROR)
    if mirror and source.url.startswith(GITHUB_RAW):
        return mirror.rstrip("/") + "/" + source.url.removeprefix(GITHUB_RAW)
    return source.url


def find_in_data_dir(source: OfficialSource) -> Path | None:
    """The file with the source's name anywhere below ``CVALUES_DATA_DIR``, if that is set."""
    configured = os.environ.get(ENV_DATA_DIR)
    if not configured:
        return None
    root = Path(configured).expanduser()
    if not root.is_dir():
        raise InputError(f"{ENV_DATA_DIR}={configured} is not a directory")
    matches = sorted(path for path in root.rglob(source.filename) if path.is_file())
    return matches[0] if matches else None


def offline_location(source: OfficialSource) -> str | None:
    """Where the file would be taken from without the network ("data dir", "cache"), unverified."""
    if find_in_data_dir(source) is not None:
        return "data dir"
    if cached_path(source).is_file():
        return "cache"
    return None


def verify_bytes(data: bytes, source: OfficialSource, where: str) -> str:
    """Check ``data`` against every digest the source has; return its sha256."""
    actual_sha256 = sha256_bytes(data)
    checks = [("sha256", source.sha256, actual_sha256)]
    if source.git_blob_sha1 is not None:
        checks.append(("git blob sha1", source.git_blob_sha1, git_blob_sha1(data)))
    for label, expected, actual in checks:
        if expected is not None and expected != actual:
            raise DataIntegrityError(
                f"{source.filename} is not the official {source.name}: expected {label} {expected}, "
                f"got {actual}",
                path=where,
            )
    return actual_sha256


def verify_file(path: Path, source: OfficialSource) -> str:
    return verify_bytes(path.read_bytes(), source, str(path))


def fetch_official(name: str, *, refresh: bool = False) -> Path:
    """A verified local copy of an official file: data dir, then cache, then download.

    ``refresh`` skips the data dir and the cache and downloads again.
    """
    source = official_source(name)
    if not refresh:
        local = find_in_data_dir(source)
        if local is not None:
            verify_file(local, source)
            return local
        cached = cached_path(source)
        if cached.is_file():
            try:
                verify_file(cached, source)
                return cached
            except DataIntegrityError as exc:
                # A damaged cache entry is removed and fetched again, never used.
                log.warning("removing a cached file that failed verification: %s", exc)
                cached.unlink(missing_ok=True)
    return _download(source)


def _download(source: OfficialSource) -> Path:
    url = download_url(source)
    target = cached_path(source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{source.filename}.", suffix=".part")
    except OSError as exc:
        raise InputError(
            f"cannot write the download cache ({exc.strerror or exc}); set {ENV_CACHE} to a writable folder",
            path=target.parent,
        ) from exc
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), 0o666 & ~current_umask())  # a shared cache: not mkstemp's 0600
            _stream_into(out, url, source)
        verify_bytes(temp.read_bytes(), source, url)
        os.replace(temp, target)  # atomic: the cache only ever holds verified files
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return target


def _stream_into(out: BinaryIO, url: str, source: OfficialSource) -> None:
    import httpx  # only the download path needs it

    try:
        with (
            httpx.Client(timeout=DOWNLOAD_TIMEOUT_S, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            response.raise_for_status()
            for chunk in response.iter_bytes():
                out.write(chunk)
    except httpx.HTTPError as exc:
        reason = (
            f"HTTP {exc.response.status_code}"
            if isinstance(exc, httpx.HTTPStatusError)
            else type(exc).__name__
        )
        raise InputError(
            f"cannot download {source.name} from {url} ({reason}); without internet, set {ENV_DATA_DIR} "
            f"to a folder holding {source.filename}, or {ENV_MIRROR} to a mirror of {GITHUB_RAW}"
        ) from exc
