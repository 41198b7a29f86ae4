"""The artifact-store protocol: bytes under a key, nothing more (names, owners, expiry are rows)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

MAX_KEY_LENGTH = 900


class ArtifactMissing(LookupError):
    """No object under that key."""


class BadKey(ValueError):
    """A key that could escape the store's root or is not a plain relative path."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    etag: str


def check_key(key: str) -> str:
    """``key`` when it is a relative, normalised path of printable parts (no ``..``, no leading ``/``)."""
    if not key or len(key) > MAX_KEY_LENGTH or key.startswith("/") or "\\" in key or "\x00" in key:
        raise BadKey(f"bad artifact key {key[:80]!r}")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts) or not key.isprintable():
        raise BadKey(f"bad artifact key {key[:80]!r}")
    return key


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore(Protocol):
    """Every method is safe to call from the event loop (blocking work runs in a thread)."""

    kind: str  # "filesystem" | "s3"
    bucket: str  # the S3 bucket, or the filesystem root

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject: ...
    async def get(self, key: str) -> bytes: ...
    async def exists(self, key: str) -> bool: ...
    async def delete(self, key: str) -> None: ...  # a missing key is not an error
    async def ping(self) -> None: ...  # raises when the store cannot be reached
