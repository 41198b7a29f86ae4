"""Artifacts as every front door sees them (spec §5): list, read, download, upload, delete, a task's log.

Rows say what the artifact store keeps; a caller sees the rows of its own organisation (else its own),
the admin all. Deleting removes the object first, then the row: a failure in between leaves a row
whose download answers "gone", never an object nobody can find.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from myrmica.artifacts.store import ArtifactMissing, ArtifactStore
from myrmica.clock import utcnow
from myrmica.domain.errors import DomainError, NotFoundError, ValidationError
from myrmica.domain.principal import Principal
from myrmica.ids import new_id
from myrmica.service.ports import Audit, LogReader

# The filters of GET /api/artifacts (seed 000) and which are numbers.
FILTERS = ("name", "group", "kind", "job_request_id", "task_type", "sha256", "content_type", "content_length",
           "task_execution_id", "job_execution_id")
NUMERIC = ("content_length",)
PAGING = ("page", "page_size", "pageSize", "order")
MAX_TEXT = 300
MAX_LOG_LINES = 200_000


class TooLarge(DomainError):
    status = 413


class ArtifactRows(Protocol):
    async def add(self, row: dict[str, Any]) -> None: ...
    async def get(self, principal: Principal, id_or_sha256: str) -> dict[str, Any] | None: ...
    async def search(self, principal: Principal, filters: dict[str, Any], *, page: int, page_size: int
                     ) -> tuple[list[dict[str, Any]], int]: ...
    async def of_request(self, request_id: str) -> list[dict[str, Any]]: ...
    async def remove(self, artifact_id: str, key: str) -> bool: ...


class VisibleRequests(Protocol):
    async def get(self, request_id: str, principal: Principal | None = None) -> dict[str, Any]: ...


class Sweeper(Protocol):
    async def sweep(self, now: datetime | None = None, limit: int = 10_000) -> tuple[int, int]: ...


def artifact_filters(query: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The query's filters, checked: an unknown one or a bad number is a 400 naming it."""
    filters: dict[str, Any] = {}
    for name, value in query:
        if name in PAGING:
            continue
        if name not in FILTERS:
            raise DomainError(f"unknown filter {name!r} (known: {', '.join(FILTERS)})", field=name)
        if name in NUMERIC:
            if not value.isascii() or not value.isdigit() or len(value) > 18:
                raise DomainError(f"{name} must be a whole number, not {value[:40]!r}", field=name)
            filters[name] = int(value)
        elif len(value) > MAX_TEXT:
            raise DomainError(f"{name} is longer than {MAX_TEXT} characters", field=name)
        else:
            filters[name] = value
    return filters


class Artifacts:
    def __init__(self, *, rows: ArtifactRows, store: ArtifactStore, logs: LogReader, requests: VisibleRequests,
                 audit: Audit, sweeper: Sweeper, max_upload_bytes: int, expire_secs: float) -> None:
        self._rows = rows
        self._store = store
        self._logs = logs
        self._requests = requests
        self._audit = audit
        self._sweeper = sweeper
        self.max_upload_bytes = max_upload_bytes
        self._expire_secs = expire_secs

    async def search(self, principal: Principal, filters: dict[str, Any], *, page: int, page_size: int
                     ) -> tuple[list[dict[str, Any]], int]:
        return await self._rows.search(principal, filters, page=page, page_size=page_size)

    async def get(self, principal: Principal, id_or_sha256: str) -> dict[str, Any]:
        row = await self._rows.get(principal, id_or_sha256)
        if row is None or row["expires_at"] <= utcnow():
            raise NotFoundError(f"artifact {id_or_sha256[:80]} not found")
        return row

    async def content(self, principal: Principal, id_or_sha256: str) -> tuple[dict[str, Any], bytes]:
        row = await self.get(principal, id_or_sha256)
        try:
            return row, await self._store.get(str(row["key"]))
        except ArtifactMissing:
            raise NotFoundError(f"artifact {row['id']}: its content is gone from the artifact store") from None

    async def of_request(self, request_id: str) -> list[dict[str, Any]]:
        """Every artifact of a request the caller could already see (for the request's view)."""
        now = utcnow()
        return [row for row in await self._rows.of_request(request_id) if row["expires_at"] > now]

    async def upload(self, principal: Principal, data: bytes, *, name: str, content_type: str,
                     metadata: dict[str, str]) -> dict[str, Any]:
        if len(data) > self.max_upload_bytes:
            raise TooLarge(f"an upload is at most {self.max_upload_bytes} bytes")
        if len(name) > MAX_TEXT or len(content_type) > 200:
            raise ValidationError("name or content type too long", field="name")
        artifact_id = new_id()
        key = f"{principal.owner_key or 'default'}/uploads/{artifact_id}"
        stored = await self._store.put(key, data, content_type)
        now = utcnow()
        row: dict[str, Any] = {
            "id": artifact_id, "key": key, "bucket": self._store.bucket, "name": name or artifact_id,
            "group": metadata.get("group", "")[:200], "kind": "USER_UPLOADED", "sha256": stored.sha256,
            "etag": stored.etag[:100], "content_type": content_type, "content_length": stored.size,
            "metadata": metadata, "tags": {}, "owner_key": principal.owner_key or "default",
            "user_id": principal.user_id or None, "organization_id": principal.organization_id,
            "job_type": "", "job_request_id": None, "job_execution_id": None, "task_execution_id": None,
            "task_type": "", "artifact_order": 0, "permissions": 0,
            "expires_at": now + timedelta(seconds=self._expire_secs), "created_at": now, "updated_at": now}
        try:
            await self._rows.add(row)
        except BaseException:
            await self._store.delete(key)  # no object without its row
            raise
        await self._audit.record("ARTIFACT_UPLOADED", principal, target_id=artifact_id, message=name)
        return row

    async def delete(self, principal: Principal, artifact_id: str) -> None:
        row = await self._rows.get(principal, artifact_id)
        if row is None or row["id"] != artifact_id:
            raise NotFoundError(f"artifact {artifact_id[:80]} not found")
        await self._store.delete(str(row["key"]))
        await self._rows.remove(artifact_id, str(row["key"]))
        await self._audit.record("ARTIFACT_DELETED", principal, target_id=artifact_id, job_type=row["job_type"],
                                 message=str(row["name"]))

    async def logs(self, principal: Principal, id_or_sha256: str) -> tuple[dict[str, Any], str]:
        """The console log of the task that made the artifact (Formicary's ``/api/artifacts/{id}/logs``)."""
        row = await self.get(principal, id_or_sha256)
        request_id = row.get("job_request_id")
        if not request_id:
            raise NotFoundError(f"artifact {row['id']} was uploaded, not made by a task: it has no log")
        await self._requests.get(str(request_id), principal)
        lines = await self._logs.read(str(request_id), task_type=str(row["task_type"]), limit=MAX_LOG_LINES)
        return row, "".join(f"{line.get('line', '')}\n" for line in lines)

    async def expire(self, now: datetime | None = None, limit: int = 10_000) -> tuple[int, int]:
        """Delete what has expired (EXPIRE_ARTIFACTS, ``POST /api/admin/artifacts/expire``)."""
        return await self._sweeper.sweep(now, limit)
