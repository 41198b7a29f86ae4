"""The S3 client of S3 triggers: ``trigger_s3_endpoint_url`` (else the artifacts URL's ``endpoint_url``,
else AWS), credentials from boto3's usual chain (never from settings)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from myrmica.config import Settings


def s3_endpoint(settings: Settings) -> str:
    if settings.trigger_s3_endpoint_url:
        return settings.trigger_s3_endpoint_url
    parts = urlsplit(settings.artifacts_url)
    if parts.scheme == "s3":
        return parse_qs(parts.query).get("endpoint_url", [""])[-1]
    return ""


def list_objects(client: Any, bucket: str, prefix: str, suffix: str) -> list[dict[str, Any]]:
    """Every object under ``prefix`` ending in ``suffix`` (blocking: run it in a thread)."""
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents") or []:
            key = str(item["Key"])
            if suffix and not key.endswith(suffix):
                continue
            modified = item["LastModified"]
            if isinstance(modified, datetime):
                modified = modified.astimezone(UTC).isoformat()
            found.append({"Key": key, "Bucket": bucket, "Size": int(item.get("Size") or 0),
                          "ETag": str(item.get("ETag") or "").strip('"'), "LastModified": str(modified)})
    return found



class S3Lister:
    """Lists a bucket for S3 triggers off the event loop, one client (thread-safe) for every call."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Any = None

    async def __call__(self, bucket: str, prefix: str, suffix: str) -> list[dict[str, Any]]:
        if self._client is None:
            self._client = s3_client(self._settings)
        return await asyncio.to_thread(list_objects, self._client, bucket, prefix, suffix)


def s3_client(settings: Settings) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=s3_endpoint(settings) or None,
                        region_name=settings.trigger_s3_region or None,
                        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                                      read_timeout=30))
