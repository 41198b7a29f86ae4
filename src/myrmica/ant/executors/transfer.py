"""An ant's artifact traffic with the artifact store (spec §5): before a task's script, the artifacts of
its ``dependencies`` (and ``artifact_ids``) and its cache; after it, one zip of its ``artifacts.paths``
and, when it succeeded, its cache. The queen names the keys to fetch and where to put new ones
(``TaskRequest.downloads``, ``artifact_prefix``, ``cache``); what was stored goes back in
``TaskResult.artifacts`` for the queen to record.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from myrmica.artifacts.archive import ArchiveError, unzip_into, zip_paths
from myrmica.artifacts.store import ArtifactMissing, ArtifactStore, BadKey
from myrmica.broker.messages import TaskRequest

Emit = Callable[[str], None]
ZIP = "application/zip"


def cache_digest(cwd: Path, cache: dict[str, Any]) -> str:
    """Formicary's cache key: ``key`` when given, else the SHA-256 of the ``key_paths`` files' contents."""
    key = str(cache.get("key") or "").strip()
    hasher = hashlib.sha256()
    if key:
        hasher.update(key.encode())
    else:
        for name in cache.get("key_paths") or []:
            path = cwd / str(name)
            hasher.update(str(name).encode() + b"\0")
            if path.is_file() and path.resolve().is_relative_to(cwd.resolve()):
                hasher.update(path.read_bytes())
    return hasher.hexdigest()


class ArtifactTransfer:
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    async def fetch(self, request: TaskRequest, cwd: Path, emit: Emit) -> None:
        """Dependencies' zips extracted into ``cwd``; a dependency with none is said in the log."""
        for item in request.downloads:
            name = str(item.get("task_type") or item.get("id") or "")
            key = item.get("key")
            if not key:
                emit(f"dependency {name} left no artifacts")
                continue
            try:
                data = await self.store.get(str(key))
                names = await asyncio.to_thread(unzip_into, data, cwd)
            except (ArtifactMissing, BadKey):
                emit(f"artifact of {name} is gone from the artifact store")
            except ArchiveError as exc:
                emit(f"artifact of {name} could not be extracted: {exc}")
            else:
                emit(f"artifacts of {name}: {len(names)} file(s)")
        cache = request.cache
        if cache and cache.get("paths") and cache.get("prefix"):
            key = f"{cache['prefix']}/{await asyncio.to_thread(cache_digest, cwd, cache)}/cache.zip"
            try:
                data = await self.store.get(key)
            except (ArtifactMissing, BadKey):
                emit("cache: none stored for this key yet")
                return
            try:
                names = await asyncio.to_thread(unzip_into, data, cwd)
            except ArchiveError as exc:
                emit(f"cache could not be extracted: {exc}")
            else:
                emit(f"cache restored: {len(names)} file(s)")

    async def keep(self, request: TaskRequest, cwd: Path, emit: Emit, *, succeeded: bool,
                   interrupted: bool) -> list[dict[str, Any]]:
        """Upload the task's artifacts (per ``artifacts_when``) and, on success, its cache."""
        kept: list[dict[str, Any]] = []
        when = request.artifacts_when.lower()
        wanted = request.artifact_paths and request.artifact_prefix and not interrupted and not (
            (when == "onsuccess" and not succeeded) or (when == "onfailure" and succeeded))
        if wanted:
            data, names = await asyncio.to_thread(zip_paths, cwd, request.artifact_paths)
            if not names:
                emit("artifacts kept: none matched")
            else:
                key = f"{request.artifact_prefix}/{request.task_execution_id}-{request.attempt}.zip"
                try:
                    stored = await self.store.put(key, data, ZIP)
                except Exception as exc:  # the store's own errors (boto's, OSError): the task still ends
                    emit(f"could not upload artifacts: {type(exc).__name__}: {exc}")
                else:
                    emit(f"artifacts kept: {', '.join(names)}")
                    kept.append({"key": key, "name": f"{request.task_type}.zip", "kind": "TASK_ARTIFACTS",
                                 "sha256": stored.sha256, "etag": stored.etag, "size": stored.size,
                                 "content_type": ZIP, "expires_secs": request.artifacts_expire_secs,
                                 "metadata": {"status": "COMPLETED" if succeeded else "FAILED",
                                              "files": ",".join(names)[:2000]}})
        cache = request.cache
        if succeeded and not interrupted and cache and cache.get("paths") and cache.get("prefix"):
            digest = await asyncio.to_thread(cache_digest, cwd, cache)
            data, names = await asyncio.to_thread(zip_paths, cwd, [str(p) for p in cache["paths"]])
            if names:
                key = f"{cache['prefix']}/{digest}/cache.zip"
                try:
                    stored = await self.store.put(key, data, ZIP)
                except Exception as exc:
                    emit(f"could not upload the cache: {type(exc).__name__}: {exc}")
                else:
                    emit(f"cache saved: {len(names)} file(s)")
                    kept.append({"key": key, "name": f"{request.task_type}_cache.zip", "kind": "CACHE",
                                 "sha256": stored.sha256, "etag": stored.etag, "size": stored.size,
                                 "content_type": ZIP, "expires_secs": float(cache.get("expire_secs") or 0),
                                 "metadata": {"KeysDigest": digest}})
        return kept
