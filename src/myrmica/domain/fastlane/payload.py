"""A Fastlane job payload (spec/fastlane.md §2), checked with Fastlane's exact 400 texts, and its
job metadata (what Fastlane keeps in ``job.metadata``).

Everything is checked before anything is stored (Fastlane saved the job before its schedule check
and left an orphan: not copied). Stricter than Fastlane where it accepted nonsense: ``startIn`` must
read as ``[<n>h][<n>m][<n>s]``, ``startAt``/``expiration`` as numbers, ``retries``/``timeout`` as
non-negative integers, ``cron`` as a 5-field rule.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from myrmica.domain.cron import parse_cron

HARD_EXECUTION_TIMEOUT_SECONDS = 1800
BACKOFF_MIN_SECONDS = 1.0  # EXPONENTIAL_BACKOFF_MIN_MS / 1000
BACKOFF_FACTOR = 2.0
ENV_BLACKLISTED_WORDS = ("password", "key", "secret", "client_id")
HOOK_KINDS = ("succeeds", "fails", "finishes")

NOT_PARSED = "Failed to enqueue task because JSON body could not be parsed."
NO_IMAGE_OR_COMMAND = "image and command must be filled in the request."
ONE_SCHEDULE = "Only ONE of 'startAt', 'startIn' and 'cron' should be in the request."
_START_IN = re.compile(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*\Z")


class FastlaneBadInput(ValueError):
    """A payload Fastlane refuses: 400 with this plain-text message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def not_uuid(job_id: str) -> str:
    return f"The job_id {job_id} is not a valid UUID4. All job IDs must be UUID4."


def job_uuid(job_id: str) -> str:
    """A client's job id in canonical lowercase form (any UUID version, as Fastlane)."""
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        raise FastlaneBadInput(not_uuid(job_id)) from None


def start_in_seconds(text: str) -> int:
    """``10s``, ``2m30s``, ``4h30m25s``, ``240h`` → seconds."""
    match = _START_IN.match(text)
    if not text.strip() or match is None or not any(match.groups()):
        raise FastlaneBadInput(f"startIn {text!r} is not a duration such as 10s, 2m30s or 4h30m25s.")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def split_image(image: str) -> tuple[str, str]:
    """``repo[:tag]`` → (repo, tag), the tag after the last ``:`` past the last ``/`` (``latest`` when none),
    so a registry host's port is not taken for a tag."""
    head, slash, tail = image.rpartition("/")
    name, colon, tag = tail.partition(":")
    return f"{head}{slash}{name}", tag if colon and tag else "latest"


@dataclass(frozen=True)
class Payload:
    image: str
    command: str
    metadata: dict[str, Any]  # Fastlane's job metadata (retries, envs, webhooks, timeout, …)
    start_at: datetime | None  # startAt or now + startIn; None: now (or by cron)
    cron: str


def read_json(raw: bytes, empty_message: str = NOT_PARSED) -> dict[str, Any]:
    """A JSON object body, whatever its content type; anything else is ``empty_message``."""
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        raise FastlaneBadInput(empty_message)
    return body


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FastlaneBadInput(f"{key} must be a unix timestamp (a number of seconds).")
    return float(value)


def _count(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FastlaneBadInput(f"{key} must be a non-negative integer.")
    return value


def _hooks(value: Any, kind: str) -> dict[str, list[Any]]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise FastlaneBadInput(f"{kind} must be an object with succeeds, fails and finishes lists.")
    out: dict[str, list[Any]] = {}
    for name in HOOK_KINDS:
        items = value.get(name) or []
        if not isinstance(items, list):
            raise FastlaneBadInput(f"{kind}.{name} must be a list.")
        out[name] = items
    return out


def read_payload(body: dict[str, Any], now: datetime) -> Payload:
    image, command = body.get("image"), body.get("command")
    if not image or not command or not isinstance(image, str) or not isinstance(command, str):
        raise FastlaneBadInput(NO_IMAGE_OR_COMMAND)
    if sum(1 for key in ("startAt", "startIn", "cron") if body.get(key)) > 1:
        raise FastlaneBadInput(ONE_SCHEDULE)
    envs = body.get("envs") or {}
    if not isinstance(envs, dict) or not all(isinstance(k, str) for k in envs):
        raise FastlaneBadInput("envs must be an object of names to values.")
    envs = {k: "" if v is None else str(v) for k, v in envs.items()}
    if any("{{" in v for v in envs.values()):
        raise FastlaneBadInput("envs values may not contain '{{' (Myrmica would read it as a template).")
    retries = _count(body, "retries", 0)
    timeout = min(_count(body, "timeout", HARD_EXECUTION_TIMEOUT_SECONDS) or HARD_EXECUTION_TIMEOUT_SECONDS,
                  HARD_EXECUTION_TIMEOUT_SECONDS)
    expiration = _number(body, "expiration")
    start_at: datetime | None = None
    if body.get("startAt"):
        stamp = _number(body, "startAt")
        assert stamp is not None
        start_at = datetime.fromtimestamp(stamp, UTC)
    elif body.get("startIn"):
        start_at = now + timedelta(seconds=start_in_seconds(str(body["startIn"])))
    cron = str(body.get("cron") or "").strip()
    if cron:
        if len(cron.split()) != 5:
            raise FastlaneBadInput(f"cron {cron!r} is not a 5-field cron rule.")
        try:
            parse_cron(cron)
        except ValueError as exc:
            raise FastlaneBadInput(f"cron {cron!r}: {exc}") from None
    metadata: dict[str, Any] = {
        "retries": retries, "retry_count": 0, "notify": _hooks(body.get("notify"), "notify"),
        "webhooks": _hooks(body.get("webhooks"), "webhooks"), "expiration": expiration, "timeout": timeout,
        "envs": envs}
    custom = body.get("metadata")
    if isinstance(custom, dict) and custom:
        metadata["custom"] = custom
    if cron:
        metadata["cron"] = cron
    return Payload(image=image, command=command, metadata=metadata, start_at=start_at, cron=cron)


def redact(value: Any, words: tuple[str, ...] = ENV_BLACKLISTED_WORDS) -> Any:
    """A deep copy with every value whose key names a blacklisted word (any case) as ``***``."""
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: "***" if pattern.search(str(k)) and not isinstance(v, dict) else walk(v)
                    for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(copy.deepcopy(value))


def retry_delay(retry_count: int) -> float:
    """Seconds before retry number ``retry_count`` (1, 2, …): factor ** n × min — 2 s, 4 s, 8 s, …"""
    return float(BACKOFF_FACTOR ** retry_count * BACKOFF_MIN_SECONDS)


def expires_at(expiration: Any) -> datetime | None:
    """A job's ``expiration`` (unix seconds) as the core request's ``expires_at``."""
    return datetime.fromtimestamp(float(expiration), UTC) if isinstance(expiration, int | float) else None


def expired_message(expiration: float, started: datetime) -> str:
    return (f"Job was supposed to be done before {datetime.fromtimestamp(expiration, UTC).isoformat()}, "
            f"but was started at {started.isoformat()}.")
