"""Password hashing with scrypt (stdlib ``hashlib``): a memory-hard KDF, per-user salt, no dependency.

Stored form: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, so the cost can be raised later
while old hashes still verify with the parameters they were made with.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from cvalues.annotate.user_errors import UserInputError

# n=2**14, r=8 (16 MiB, ~50 ms): the interactive-login parameters recommended for scrypt.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_SCHEME = "scrypt"
MIN_PASSWORD_CHARS = 8
MIN_ADMIN_PASSWORD_CHARS = 10
# What is left of a password once the user name is taken out must still be this long
# ("alice12345" for alice is refused, "alice-pass-1" is not).
_MIN_CHARS_BESIDES_NAME = 6
# The CLI reads passwords from an environment variable: its refusals name that flag.
_FLAG = "--password-env"
# The most common passwords of public breach lists (and their Chinese favourites) at 8+ characters;
# compared case-insensitively. A short list on purpose: it stops the guesses tried first.
COMMON_PASSWORDS = frozenset(
    [
        "12345678",
        "123456789",
        "1234567890",
        "0123456789",
        "87654321",
        "987654321",
        "11111111",
        "00000000",
        "88888888",
        "66666666",
        "11223344",
        "12341234",
        "12344321",
        "11112222",
        "123123123",
        "147258369",
        "123456789a",
        "1234567a",
        "12345678a",
        "123456abc",
        "a1234567",
        "a12345678",
        "a123456789",
        "abc12345",
        "abcd1234",
        "abc123456",
        "qwertyui",
        "qwerty123",
        "qwertyuiop",
        "1qaz2wsx",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "q1w2e3r4",
        "zaq12wsx",
        "asdfghjk",
        "asdfasdf",
        "zxcvbnm1",
        "password",
        "password1",
        "password123",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "iloveyou",
        "iloveyou1",
        "woaini1314",
        "woaini520",
        "5201314520",
        "1314520520",
        "admin123",
        "admin1234",
        "admin12345",
        "administrator",
        "root1234",
        "rootroot",
        "superman",
        "sunshine",
        "princess",
        "football",
        "baseball",
        "welcome1",
        "welcome123",
        "letmein1",
        "changeme",
        "trustno1",
        "whatever",
        "computer",
        "internet",
        "dragon123",
        "monkey123",
        "starwars",
        "master123",
        "qazwsxedc",
        "1qazxsw2",
        "aa123456",
        "aa12345678",
        "abcdefgh",
        "abcdefg1",
    ]
)


def password_problem(password: str, name: str, role: str) -> UserInputError | None:
    """Why ``password`` may not be used by ``name`` in ``role`` (the error to raise), or None when it may."""
    least = MIN_ADMIN_PASSWORD_CHARS if role == "admin" else MIN_PASSWORD_CHARS
    if len(password) < least:
        role_zh = "管理员" if role == "admin" else "普通用户"
        return UserInputError("password_too_short", flag=_FLAG, least=least, role=role, role_zh=role_zh)
    folded = password.casefold()
    if folded in COMMON_PASSWORDS or len(set(folded)) <= 2:
        return UserInputError("password_common", flag=_FLAG)
    besides_name = folded.replace(name.casefold(), "") if name else folded
    if len(besides_name) < _MIN_CHARS_BESIDES_NAME or folded == name.casefold()[::-1]:
        return UserInputError("password_like_name", flag=_FLAG)
    return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES, maxmem=128 * r * n * p + 2**20
    )


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password``."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; compared in constant time. A malformed hash never matches."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return False
    try:
        n, r, p = (int(value) for value in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
        # Bounds keep a tampered row from asking for gigabytes of memory.
        if not (2 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
            return False
        actual = _derive(password, salt, n, r, p)
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """Checked against when a name is unknown, so that a login takes as long whether or not it exists."""
    return hash_password(secrets.token_urlsafe(16))
