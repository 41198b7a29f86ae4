"""Artifacts as files under one directory (the embedded default: ``<data dir>/artifacts``).

A put writes a temporary file beside the target and renames it over, so a reader never sees half an
object and a crash leaves no torn one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

from myrmica.artifacts.store import ArtifactMissing, StoredObject, check_key, digest


class FilesystemStore:
    kind = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.bucket = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _put(self, key: str, data: bytes) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        sha = digest(data)
        return StoredObject(key, len(data), sha, hashlib.md5(data, usedforsecurity=False).hexdigest())

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject:
        return await asyncio.to_thread(self._put, key, data)

    def _get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ArtifactMissing(key) from None

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    def _delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        parent = path.parent
        while parent != self.root and parent.is_relative_to(self.root):  # empty directories go too
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def ping(self) -> None:
        def check() -> None:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not os.access(self.root, os.W_OK):
                raise OSError(f"{self.root} is not writable")

        await asyncio.to_thread(check)
