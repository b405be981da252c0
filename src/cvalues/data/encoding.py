"""Bytes to text, and the digests that identify a file.

Chinese data files come as UTF-8, UTF-8 with a BOM (Excel, Windows tools) or GB18030 (the JADE
sets, Chinese Windows exports); the encoding is detected in that order unless the user names one.
"""

from __future__ import annotations

import codecs
import hashlib
from pathlib import Path

from cvalues.core.errors import InputError

# Tried in order. UTF-8 first: valid GB18030 bytes are rarely valid UTF-8, the reverse is common.
DETECTED_ENCODINGS: tuple[str, ...] = ("utf-8", "gb18030")


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a user-named file, with a one-line InputError when it cannot be read."""
    file = Path(path)
    if not file.exists():
        raise InputError("no such file", path=file)
    if file.is_dir():
        raise InputError("is a directory, not a file", path=file)
    try:
        return file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=file) from exc


def decode_bytes(data: bytes, path: str | Path, encoding: str | None = None) -> tuple[str, str]:
    """Decode ``data`` read from ``path``; return (text, encoding used)."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise InputError(f"unknown encoding {encoding!r}", flag="--encoding") from exc
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise InputError(
                f"cannot be decoded as {encoding} (byte {exc.start}); pass the right --encoding", path=path
            ) from exc
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise InputError(
                f"starts with a UTF-8 BOM but is not valid UTF-8 (byte {exc.start + 3}); pass --encoding",
                path=path,
            ) from exc
    for candidate in DETECTED_ENCODINGS:
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise InputError("is neither UTF-8 nor GB18030 text; pass --encoding NAME", path=path)


def read_text(path: str | Path, encoding: str | None = None) -> tuple[str, str]:
    """Read a text file; return (text, encoding used). Detects UTF-8 with BOM, UTF-8, GB18030."""
    return decode_bytes(read_bytes(path), path, encoding)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """The id git gives a file's content: SHA-1 of ``b"blob <size>\\0" + content``.

    GitHub shows it for every file, so it identifies official files whose sha256 nobody published.
    """
    digest = hashlib.sha1(b"blob %d\x00" % len(data))
    digest.update(data)
    return digest.hexdigest()
