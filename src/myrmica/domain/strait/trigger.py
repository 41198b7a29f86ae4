"""A trigger's body and the rules applied to it before a run is made (spec/strait.md §6, §8).

:func:`read_trigger` checks the body (unknown fields refused, priority 0..10, tags, TTL), and
:func:`prepare` gives the canonical payload, its SHA-256, the run's start (``scheduled_at`` aligned
to the job's execution window, in its time zone) and its ``expires_at``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from myrmica.domain.strait.errors import bad
from myrmica.domain.strait.schema import check_payload
from myrmica.domain.strait.validate import MAX_TAG_VALUE, canonical, check_tags

MAX_PAYLOAD_BYTES = 5 * 1024 * 1024
MAX_IDEMPOTENCY_KEY = 256
MAX_BULK_ITEMS = 500
MAX_PRIORITY = 10
MAX_TTL = 365 * 24 * 3600
TRIGGER_FIELDS = frozenset({"payload", "tags", "scheduled_at", "priority", "dry_run", "ttl_secs", "concurrency_key",
                            "idempotency_key", "metadata", "debounce_key", "batch_key"})
BULK_ITEM_FIELDS = frozenset({"payload", "scheduled_at", "priority", "idempotency_key", "tags", "ttl_secs",
                              "concurrency_key", "metadata"})


@dataclass(frozen=True)
class Trigger:
    payload: Any = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    scheduled_at: datetime | None = None
    priority: int = 0
    dry_run: bool = False
    ttl_secs: int = 0
    concurrency_key: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class Prepared:
    payload: Any  # the canonical payload, decoded ({} when absent)
    canonical: str
    payload_hash: str
    scheduled_at: datetime | None  # None: now
    expires_at: datetime
    dependency_key: str


def _time(value: Any, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad(f"{where} must be an RFC 3339 time", where)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad(f"{where} must be an RFC 3339 time", where) from None
    if parsed.tzinfo is None:
        raise bad(f"{where} must have a time zone offset (RFC 3339)", where)
    return parsed.astimezone(UTC)


def _small_int(value: Any, where: str, minimum: int, maximum: int, message: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise bad(message, where)
    return value


def idempotency_key(headers: Any, body_key: str = "") -> str:
    """``X-Idempotency-Key`` wins over ``Idempotency-Key`` (then the body's); at most 256 characters."""
    key = headers.get("x-idempotency-key") or headers.get("idempotency-key") or body_key or ""
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise bad(f"idempotency key must be at most {MAX_IDEMPOTENCY_KEY} characters", "idempotency_key")
    return str(key)


def read_trigger(body: Any, *, allowed: frozenset[str] = TRIGGER_FIELDS, prefix: str = "") -> Trigger:
    if body is None:
        return Trigger()
    if not isinstance(body, dict):
        raise bad("invalid request body: expected a JSON object", prefix.rstrip(".") or None)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad(f"invalid request body: unknown field {unknown[0]!r}", prefix + unknown[0])
    dry = body.get("dry_run", False)
    if not isinstance(dry, bool):
        raise bad("dry_run must be true or false", prefix + "dry_run")
    key = body.get("concurrency_key") or ""
    if not isinstance(key, str) or len(key) > MAX_TAG_VALUE:
        raise bad(f"concurrency_key must be a string of at most {MAX_TAG_VALUE} characters",
                  prefix + "concurrency_key")
    idem = body.get("idempotency_key") or ""
    if not isinstance(idem, str) or len(idem) > MAX_IDEMPOTENCY_KEY:
        raise bad(f"idempotency key must be at most {MAX_IDEMPOTENCY_KEY} characters", prefix + "idempotency_key")
    for unused in ("debounce_key", "batch_key"):
        if not isinstance(body.get(unused) or "", str):
            raise bad(f"{unused} must be a string", prefix + unused)
    return Trigger(
        payload=body.get("payload"), tags=check_tags(body.get("tags"), prefix + "tags"),
        metadata=check_tags(body.get("metadata"), prefix + "metadata"),
        scheduled_at=_time(body.get("scheduled_at"), prefix + "scheduled_at"),
        priority=_small_int(body.get("priority"), prefix + "priority", 0, MAX_PRIORITY,
                            "priority must be between 0 and 10"),
        dry_run=dry, ttl_secs=_small_int(body.get("ttl_secs"), prefix + "ttl_secs", 0, MAX_TTL,
                                         f"ttl_secs must be between 0 and {MAX_TTL}"),
        concurrency_key=key, idempotency_key=idem)


def read_bulk(body: Any) -> list[Trigger]:
    if not isinstance(body, dict) or set(body) - {"items"}:
        raise bad("invalid request body: expected {\"items\": [...]}", "items")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise bad("items must hold at least one item", "items")
    if len(items) > MAX_BULK_ITEMS:
        raise bad(f"at most {MAX_BULK_ITEMS} items per bulk trigger", "items")
    return [read_trigger(item if item is not None else {}, allowed=BULK_ITEM_FIELDS, prefix=f"items[{i}].")
            for i, item in enumerate(items)]


def canonical_payload(payload: Any, where: str = "payload") -> tuple[Any, str, str]:
    """(payload, canonical JSON, hex SHA-256 of it); an absent payload is ``{}``."""
    value = {} if payload is None else payload
    text = canonical(value)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise bad("payload must be at most 5 MiB", where)
    return json.loads(text), text, hashlib.sha256(text.encode()).hexdigest()


def window_start(expression: str, zone: str, reference: datetime) -> datetime | None:
    """None when ``reference``'s minute is in the window, else the next minute that is (UTC)."""
    if not expression:
        return None
    local = reference.astimezone(ZoneInfo(zone or "UTC"))
    minute = local.replace(second=0, microsecond=0)
    if croniter.match(expression, minute):
        return None
    following = croniter(expression, minute).get_next(datetime)
    return following.astimezone(UTC)


def prepare(job: dict[str, Any], trigger: Trigger, *, now: datetime, where: str = "payload") -> Prepared:
    """The checks of §6 that need no store: payload schema, canonical form, execution window, TTL."""
    schema = job.get("payload_schema")
    payload, text, digest = canonical_payload(trigger.payload, where)
    if schema is not None:
        check_payload(schema, canonical(schema), payload, where)
    start = trigger.scheduled_at if trigger.scheduled_at is not None and trigger.scheduled_at > now else None
    aligned = window_start(job.get("execution_window_cron") or "", job.get("timezone") or "", start or now)
    if aligned is not None:
        start = aligned
    ttl = trigger.ttl_secs or int(job.get("run_ttl_secs") or 0) or int(job["timeout_secs"]) + 60
    expires = (start or now) + timedelta(seconds=ttl)
    dependency = payload.get("dependency_key") if isinstance(payload, dict) else None
    return Prepared(payload, text, digest, start, expires,
                    dependency if isinstance(dependency, str) and len(dependency) <= 256 else "")
