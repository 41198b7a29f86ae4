"""Artifacts in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS; moto's server in tests), with boto3.

boto3 rather than aioboto3: it is AWS's own, maintained SDK with no pinned botocore of its own
(aiobotocore pins one, which fights every other boto user), and an artifact call is one short request
that ``asyncio.to_thread`` keeps off the event loop. A client is thread-safe; one serves every call.
Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile,
an instance role): never from the store's URL, so they never show in settings or logs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from myrmica.artifacts.store import ArtifactMissing, StoredObject, check_key, digest

MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3Store:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, create_bucket: bool = False, client: Any = None) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None,
                                  config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                connect_timeout=5, read_timeout=60))
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._create_bucket = create_bucket
        self._bucket_ready = False

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _ensure_bucket(self) -> None:
        if self._bucket_ready or not self._create_bucket:
            return
        from botocore.exceptions import ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._client.create_bucket(Bucket=self.bucket)
        self._bucket_ready = True

    def _put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        self._ensure_bucket()
        sha = digest(data)
        answer = self._client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data,
                                         ContentType=content_type, Metadata={"sha256": sha})
        return StoredObject(key, len(data), sha, str(answer.get("ETag", "")).strip('"'))

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> StoredObject:
        return await asyncio.to_thread(self._put, key, data, content_type)

    def _get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in MISSING_CODES:
                raise ArtifactMissing(key) from None
            raise
        body = answer["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in MISSING_CODES:
                return False
            raise
        return True

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._exists, key)

    async def delete(self, key: str) -> None:
        name = self._name(key)
        await asyncio.to_thread(lambda: self._client.delete_object(Bucket=self.bucket, Key=name))

    async def ping(self) -> None:
        def check() -> None:
            self._ensure_bucket()
            self._client.head_bucket(Bucket=self.bucket)

        await asyncio.to_thread(check)
