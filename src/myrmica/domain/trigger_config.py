"""A definition's ``triggers`` (spec §2.8) checked at upload: a known ``type`` (webhook, s3, queue), a
unique ``name``, and each type's own fields (an S3 trigger's ``bucket`` and ``mode``, a queue
trigger's ``topic``); durations and rate limits that parse. A bad one is a 4xx at upload, not a
trigger that silently never fires."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from myrmica.domain.durations import parse_duration
from myrmica.domain.errors import ValidationError

TYPES = ("webhook", "s3", "queue")
S3_MODES = ("poll", "notification")
DEFAULT_POLL_SECONDS = 60.0
MIN_POLL_SECONDS = 0.01


def poll_seconds(trigger: Mapping[str, Any]) -> float:
    value = trigger.get("poll_interval")
    return DEFAULT_POLL_SECONDS if value in (None, "", 0) else max(MIN_POLL_SECONDS, parse_duration(value))


def s3_mode(trigger: Mapping[str, Any]) -> str:
    return str(trigger.get("mode") or "poll").lower()


def rate_limit_of(trigger: Mapping[str, Any]) -> tuple[int, float] | None:
    """``rate_limit {max, window}`` as (max, window seconds); None when the trigger has none (or ``max: 0``)."""
    limit = trigger.get("rate_limit")
    if not isinstance(limit, dict) or not limit.get("max"):
        return None
    try:
        most, window = int(limit["max"]), float(parse_duration(limit.get("window") or "60s"))
    except (TypeError, ValueError):
        return None
    return (most, window) if most > 0 and window > 0 else None


def _text(trigger: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> None:
    value = trigger.get(key)
    if value is None or value == "":
        if required:
            raise ValidationError(f"{where}: {key} is required", field=f"triggers.{key}")
        return
    if not isinstance(value, str):
        raise ValidationError(f"{where}: {key} must be a string", field=f"triggers.{key}")


def validate_triggers(triggers: Any) -> None:
    if triggers in (None, ""):
        return
    if not isinstance(triggers, list):
        raise ValidationError("triggers must be a list", field="triggers")
    names: set[str] = set()
    for index, trigger in enumerate(triggers):
        where = f"triggers[{index}]"
        if not isinstance(trigger, dict):
            raise ValidationError(f"{where} must be a map", field="triggers")
        kind = str(trigger.get("type") or "").lower()
        if kind not in TYPES:
            raise ValidationError(f"{where}: type must be one of {', '.join(TYPES)}, not {trigger.get('type')!r}",
                                  field="triggers.type")
        name = trigger.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"{where}: name is required", field="triggers.name")
        if len(name) > 100:
            raise ValidationError(f"{where}: name is at most 100 characters", field="triggers.name")
        if name in names:
            raise ValidationError(f"{where}: the trigger name {name!r} is used twice", field="triggers.name")
        names.add(name)
        where = f"trigger {name!r}"
        if kind == "s3":
            _text(trigger, "bucket", where, required=True)
            for key in ("prefix", "suffix", "topic"):
                _text(trigger, key, where)
            if s3_mode(trigger) not in S3_MODES:
                raise ValidationError(f"{where}: mode must be poll or notification", field="triggers.mode")
            if s3_mode(trigger) == "notification" and not trigger.get("topic"):
                raise ValidationError(f"{where}: a notification-mode trigger needs topic (an SQS queue's ARN or "
                                      "URL, or a queue name)", field="triggers.topic")
            try:
                poll_seconds(trigger)
            except ValueError as exc:
                raise ValidationError(f"{where}: poll_interval: {exc}", field="triggers.poll_interval") from None
        elif kind == "queue":
            _text(trigger, "topic", where, required=True)
            _text(trigger, "group", where)
            if "shared" in trigger and not isinstance(trigger["shared"], bool):
                raise ValidationError(f"{where}: shared must be true or false", field="triggers.shared")
        params = trigger.get("params")
        if params is not None and not isinstance(params, dict):
            raise ValidationError(f"{where}: params must be a map", field="triggers.params")
        limit = trigger.get("rate_limit")
        if limit is not None:
            try:
                if not isinstance(limit, dict) or int(limit.get("max", 0)) < 0:
                    raise ValueError("rate_limit is {max, window}")
                parse_duration(limit.get("window") or "60s")
            except (TypeError, ValueError) as exc:
                raise ValidationError(f"{where}: rate_limit: {exc}", field="triggers.rate_limit") from None
