"""MinHash signatures and an LSH index (``datasketch``) for ``pairs check``'s near duplicates.

A signature covers the character shingles of a text after ``normalise`` (NFKC, no whitespace or
punctuation); shingles are hashed with CRC-32, which, unlike Python's ``hash``, is the same in
every process, so a report can be reproduced.
"""

from __future__ import annotations

import zlib

from datasketch import MinHash, MinHashLSH

from cvalues.data.text_normal import normalise


def minhash(text: str, num_perm: int, shingle: int) -> MinHash:
    signature = MinHash(num_perm=num_perm, seed=1, hashfunc=shingle_hash)
    norm = normalise(text)
    # One vectorised update for all shingles: per-shingle updates cost a numpy call each.
    shingles = [norm[start : start + shingle] for start in range(max(1, len(norm) - shingle + 1))]
    signature.update_batch(shingles)
    return signature


def shingle_hash(shingle: str) -> int:
    """A stable 32-bit hash of a shingle."""
    return zlib.crc32(shingle.encode("utf-8"))


def new_index(threshold: float, num_perm: int) -> MinHashLSH:
    return MinHashLSH(threshold=threshold, num_perm=num_perm)
