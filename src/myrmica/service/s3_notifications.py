"""S3 triggers in notification mode (spec §2.8: ``mode: notification``, ``topic``): S3's own event
notifications, as S3 sends them (``{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket":
{"name"}, "object": {"key", "size", "eTag", "sequencer"}}, "eventTime"}]}``, also wrapped in an SNS
envelope), read from ``topic``: an SQS queue (its ARN or URL — S3 delivers there itself,
``QueueConfigurations``) or else the Redis stream ``formicary-queue-{topic}`` (Formicary's: the trigger
subscribes to its own queue; something forwards the events onto it).

Each ``ObjectCreated`` record of the trigger's ``bucket`` under ``prefix`` ending in ``suffix`` makes one
request, exactly as a polled object does (the same params and ``.Object`` data, ``LastModified`` being the
event's time); other events, S3's ``s3:TestEvent`` and what does not parse are dropped (acked: a poison
message is not delivered for ever). The object's identity (bucket, key, ETag, sequencer) is the request's
``user_key`` (unless ``dedup_key``), so a notification delivered twice makes one request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from myrmica.domain.records import DefinitionRecord
from myrmica.service.queue_messages import decode
from myrmica.service.s3_triggers import object_params
from myrmica.service.trigger_fire import TriggerFirer


def _records(message: Any) -> list[Any]:
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            return []
    if not isinstance(message, dict):
        return []
    if isinstance(message.get("Message"), str) and "Records" not in message:  # SNS → SQS
        return _records(message["Message"])
    records = message.get("Records")
    return records if isinstance(records, list) else []


def created_objects(message: Any) -> list[dict[str, Any]]:
    """The objects an S3 event notification says were created."""
    found = []
    for record in _records(message):
        if not isinstance(record, dict) or not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3: dict[str, Any] = record["s3"] if isinstance(record.get("s3"), dict) else {}
        bucket = s3["bucket"].get("name") if isinstance(s3.get("bucket"), dict) else None
        obj: dict[str, Any] | None = s3["object"] if isinstance(s3.get("object"), dict) else None
        if not bucket or not obj or not obj.get("key"):
            continue
        found.append({"Key": unquote_plus(str(obj["key"])), "Bucket": str(bucket), "Size": int(obj.get("size") or 0),
                      "ETag": str(obj.get("eTag") or "").strip('"'),
                      "LastModified": str(record.get("eventTime") or ""),
                      "Sequencer": str(obj.get("sequencer") or "")})
    return found


def _wanted(trigger: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    key = str(obj["Key"])
    return obj["Bucket"] == str(trigger.get("bucket")) and key.startswith(str(trigger.get("prefix") or "")) \
        and key.endswith(str(trigger.get("suffix") or ""))


class S3Notifications:
    def __init__(self, firer: TriggerFirer) -> None:
        self._firer = firer
        self.fired = 0  # requests made (for tests and metrics)

    async def handle(self, definition: DefinitionRecord, trigger: dict[str, Any], message: Any) -> int:
        made = 0
        for obj in created_objects(message):
            if not _wanted(trigger, obj):
                continue
            identity = f"s3-event:{obj['Bucket']}/{obj['Key']}@{obj['ETag']}@{obj['Sequencer'] or obj['LastModified']}"
            shown = {k: v for k, v in obj.items() if k != "Sequencer"}
            fired = await self._firer.fire(definition, trigger, {"Object": shown}, params=object_params(shown),
                                           identity=identity, kind="s3")
            made += bool(fired.request_id)
        self.fired += made
        return made

    async def handle_entry(self, definition: DefinitionRecord, trigger: dict[str, Any], entry_id: str,
                           fields: dict[str, str]) -> None:
        """A Redis stream entry: its ``message`` (or ``payload``) field, else the entry, is the notification."""
        message, _ = decode(fields)
        await self.handle(definition, trigger, message)
