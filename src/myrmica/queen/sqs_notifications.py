"""S3 event notifications delivered by S3 to an SQS queue (an S3 trigger's ``mode: notification`` whose
``topic`` is the queue's ARN or URL; ``service/s3_notifications.py``), read by the leading queen only: one
long-polling reader per trigger, a message deleted once each of its records made its request (or was
dropped). A message left undeleted (a queen dying meanwhile) comes back after the queue's visibility
timeout and, the object's identity being the request's ``user_key``, makes no second request.

The SQS endpoint is ``trigger_sqs_endpoint_url``, else the queue URL's own host, else AWS's; credentials
and region come from boto3's usual chain (the region also from the ARN)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from myrmica.config import Settings
from myrmica.domain.records import DefinitionRecord
from myrmica.queen.trigger_readers import Listing, ReaderKey, TriggerReaders

WAIT_SECONDS = 1
log = logging.getLogger("myrmica.queen.sqs_notifications")

Handler = Callable[[DefinitionRecord, dict[str, Any], Any], Awaitable[int]]


def is_sqs(topic: str) -> bool:
    return topic.startswith("arn:aws:sqs:") or topic.startswith(("http://", "https://"))


class SqsNotifications(TriggerReaders):
    what = "s3-notifications"

    def __init__(self, settings: Settings, *, listing: Listing, handle: Handler,
                 leading: Callable[[], bool] = lambda: True, tick_secs: float = 1.0) -> None:
        super().__init__(listing=listing, leading=leading, tick_secs=tick_secs)
        self._settings = settings
        self._handle = handle
        self.received = 0  # messages deleted after handling (for tests and metrics)

    def _key(self, definition: DefinitionRecord, trigger: dict[str, Any]) -> ReaderKey:
        return definition.owner_key, definition.job_type, str(trigger.get("name")), str(trigger.get("topic"))

    def _client(self, topic: str) -> tuple[Any, str]:
        """A client for the queue and the queue's URL (blocking: run it in a thread)."""
        import boto3

        endpoint, region = self._settings.trigger_sqs_endpoint_url, self._settings.trigger_s3_region or None
        if topic.startswith("arn:aws:sqs:"):
            _, _, _, arn_region, account, name = topic.split(":", 5)
            client = boto3.client("sqs", endpoint_url=endpoint or None, region_name=region or arn_region)
            return client, str(client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
        parts = urlsplit(topic)
        client = boto3.client("sqs", endpoint_url=endpoint or f"{parts.scheme}://{parts.netloc}",
                              region_name=region or "us-east-1")
        return client, topic

    async def _read(self, definition: DefinitionRecord, trigger: dict[str, Any]) -> None:
        client, url = await asyncio.to_thread(self._client, str(trigger["topic"]))
        while True:
            try:
                answer = await asyncio.to_thread(client.receive_message, QueueUrl=url, MaxNumberOfMessages=10,
                                                 WaitTimeSeconds=WAIT_SECONDS)
                for message in answer.get("Messages") or []:
                    await self._handle(definition, trigger, message.get("Body") or "")
                    await asyncio.to_thread(client.delete_message, QueueUrl=url,
                                            ReceiptHandle=message["ReceiptHandle"])
                    self.received += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # the queue away, a request not stored: the message comes back later
                log.warning("S3 trigger %s of %s: its queue failed", trigger.get("name"), definition.job_type,
                            exc_info=True)
                await asyncio.sleep(max(self._tick, 1.0))
