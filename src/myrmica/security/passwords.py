"""Passwords for HTTP basic auth, stored only as argon2id hashes (argon2-cffi's defaults: RFC 9106's
low-memory profile, 64 MiB and 3 passes), checked in constant time. A password is never logged,
stored or returned as itself."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
MAX_PASSWORD = 1024  # longer inputs are refused before hashing (no hashing of megabytes)

# A fixed hash to check against when the user does not exist, so that an unknown name costs the same
# time as a wrong password (no user enumeration by timing).
_DUMMY = _HASHER.hash("no such user: this never matches")


def hash_password(password: str) -> str:
    if not password or len(password) > MAX_PASSWORD:
        raise ValueError(f"a password must have 1 to {MAX_PASSWORD} characters")
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (None: no such user — checked anyway, then False)."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)
