"""The queen's side of artifacts (spec §5): what a task request names (where its zip goes, which zips it
extracts first, its cache), the rows of what an ant stored, and the sweep that deletes expired ones.

Key layout in the store: a task's zip is ``{owner}/job-{request}/{task type}/{task execution}-{attempt}.zip``
(``artifact_key_prefix`` replaces the ``job-…/…`` part, as in Formicary), a cache is
``{owner}/{job type}/cache/{digest}/cache.zip`` (shared by the owner's runs of that job type), an upload is
``{owner}/uploads/{id}``. The rows keep each key, so the layout can change without losing anything.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from myrmica.artifacts.store import ArtifactStore, BadKey
from myrmica.broker.messages import TaskRequest, TaskResult
from myrmica.clock import utcnow
from myrmica.domain.definition_model import TaskDefinition
from myrmica.domain.durations import parse_duration
from myrmica.domain.principal import Principal
from myrmica.ids import new_id
from myrmica.store.artifacts import ArtifactRepository

log = logging.getLogger("myrmica.queen.artifacts")

DAY = 86400.0
SWEEP_BATCH = 500


def _part(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in text.strip())
    return cleaned.strip(".") or "_"


def _seconds(value: Any, default: float) -> float:
    if value in (None, "", 0):
        return default
    try:
        seconds = float(parse_duration(value))
    except (ValueError, TypeError):
        return default
    return seconds if seconds > 0 else default


class ArtifactKeeper:
    def __init__(self, store: ArtifactStore, rows: ArtifactRepository, *, artifact_days: float,
                 cache_days: float) -> None:
        self.store = store
        self.rows = rows
        self.artifact_secs = artifact_days * DAY
        self.cache_secs = cache_days * DAY

    # --- a task request ---------------------------------------------------------------------------

    async def prepare(self, request: TaskRequest, task: TaskDefinition, run_request: dict[str, Any]) -> None:
        """Fill in ``request``'s artifact fields: where its zip goes, what it extracts first, its cache."""
        owner = _part(str(run_request.get("owner_key") or "default"))
        base = task.artifact_key_prefix.strip().strip("/")
        if base:
            prefix = f"{owner}/" + "/".join(_part(p) for p in base.split("/") if p.strip())
        else:
            prefix = f"{owner}/job-{run_request['id']}/{_part(task.task_type)}"
        request.artifact_prefix = prefix
        spec = task.artifacts
        request.artifacts_expire_secs = _seconds(spec.expires_after if spec else None, self.artifact_secs)
        downloads: list[dict[str, Any]] = []
        if task.dependencies:
            found = await self.rows.of_tasks(str(run_request["id"]), task.dependencies)
            for dependency in task.dependencies:
                row = found.get(dependency)
                downloads.append({"task_type": dependency, "key": row["key"] if row else ""})
        if task.artifact_ids:
            owner_principal = Principal(str(run_request.get("user_id") or ""), "",
                                        run_request.get("organization_id") or None)
            if not run_request.get("user_id") and not run_request.get("organization_id"):
                owner_principal = Principal("", "", None, admin=True)
            rows = {r["id"]: r for r in await self.rows.by_ids(owner_principal, task.artifact_ids)}
            for artifact_id in task.artifact_ids:
                row = rows.get(artifact_id)
                downloads.append({"id": artifact_id, "key": row["key"] if row else ""})
        request.downloads = downloads
        cache = task.cache
        if cache is not None and cache.paths:
            request.cache = {"paths": list(cache.paths), "key": cache.key, "key_paths": list(cache.key_paths),
                             "prefix": f"{owner}/{_part(str(run_request['job_type']))}/cache",
                             "expire_secs": _seconds(cache.expires_after, self.cache_secs)}

    # --- what an ant stored -----------------------------------------------------------------------

    async def record(self, result: TaskResult, task_type: str, row: dict[str, Any],
                     run_request: dict[str, Any]) -> dict[str, Any]:
        """Rows for what ``result`` says the ant stored; the task contexts that name them."""
        contexts: dict[str, Any] = {}
        now = utcnow()
        order = 0
        for item in result.artifacts:
            try:
                key = str(item["key"])
                kind = str(item.get("kind") or "TASK_ARTIFACTS")
                if kind not in ("TASK_ARTIFACTS", "CACHE"):
                    continue
                secs = float(item.get("expires_secs") or 0) or (self.cache_secs if kind == "CACHE"
                                                                 else self.artifact_secs)
                order += 1
                artifact_id = new_id()
                await self.rows.add({
                    "id": artifact_id, "key": key, "bucket": self.store.bucket, "name": str(item.get("name", ""))[:300],
                    "group": run_request.get("job_type", "")[:200], "kind": kind,
                    "sha256": str(item.get("sha256", "")), "etag": str(item.get("etag", ""))[:100],
                    "content_type": str(item.get("content_type") or "application/zip")[:200],
                    "content_length": int(item.get("size") or 0), "metadata": dict(item.get("metadata") or {}),
                    "tags": {}, "owner_key": run_request.get("owner_key") or "default",
                    "user_id": run_request.get("user_id"), "organization_id": run_request.get("organization_id"),
                    "job_type": run_request.get("job_type", ""), "job_request_id": run_request["id"],
                    "job_execution_id": row.get("job_execution_id"), "task_execution_id": row["id"],
                    "task_type": task_type, "artifact_order": order, "permissions": 0,
                    "expires_at": now + timedelta(seconds=secs), "created_at": now, "updated_at": now})
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("request %s task %s: an artifact the ant reported was not recorded: %s",
                            run_request.get("id"), task_type, exc)
                continue
            if kind == "CACHE":
                contexts["CachedArtifactKey"] = str(item.get("metadata", {}).get("KeysDigest", ""))
            else:
                contexts[f"{task_type}_ArtifactURL_{order}"] = f"/api/artifacts/{artifact_id}/download"
                contexts[f"{task_type}_ArtifactID_{order}"] = artifact_id
        return contexts

    # --- expiry -----------------------------------------------------------------------------------

    async def sweep(self, now: datetime | None = None, limit: int = 10_000) -> tuple[int, int]:
        """Delete every artifact whose time is up (object, then row): how many, and their bytes."""
        moment = now or utcnow()
        count = size = 0
        while count < limit:
            batch = await self.rows.expired(moment, min(SWEEP_BATCH, limit - count))
            if not batch:
                break
            for row in batch:
                try:
                    await self.store.delete(str(row["key"]))
                except BadKey:
                    pass
                except Exception as exc:  # the store is down: try again at the next sweep
                    log.warning("artifact %s could not be deleted from the store: %s", row["id"], exc)
                    return count, size
                if await self.rows.remove(str(row["id"]), str(row["key"])):
                    count += 1
                    size += int(row.get("content_length") or 0)
            if len(batch) < SWEEP_BATCH:
                break
        return count, size
