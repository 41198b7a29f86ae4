"""S3 triggers in notification mode (spec §2.8): S3's own event notifications. moto's S3 on 127.0.0.1
sends them itself to an SQS queue (moto's too) named by the trigger's ``topic``: an object put makes one
request with the polled mode's params, an object outside the trigger's prefix/suffix and S3's test event
make none. The same envelope on the Redis stream ``formicary-queue-{topic}`` (Formicary's own queue) works
too, and one delivered twice makes one request while the first is live. Without ``topic`` it is refused."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
import redis

from myrmica.config import Settings
from tests.conftest import fresh_redis
from tests.support.jobs import apply, requests_of, wait_for, wait_state
from tests.support.live import LiveServer, live_server
from tests.support.migrated import migrated_sqlite
from tests.support.redis_server import RedisServer
from tests.support.s3 import S3Server, moto_s3

NOTIFIED = """
job_type: {name}
triggers:
- type: s3
  name: landed
  mode: notification
  bucket: {bucket}
  prefix: in/
  suffix: .csv
  topic: {topic}
  params:
    Source: 's3://{{{{ .Object.Bucket }}}}/{{{{ .Object.Key }}}}'
tasks:
- task_type: load
  method: SHELL
  script: ["echo loading $ObjectKey size=$ObjectSize"]
"""


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, s3: S3Server, redis_server: RedisServer
           ) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("notified")
    settings = Settings(data_dir=tmp / "data", database_url=migrated_sqlite(tmp / "db.sqlite"),
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=tmp / "work", sandbox="none", trigger_tick_secs=0.02, trigger_rescan_secs=0.05,
                        trigger_sqs_endpoint_url=s3.endpoint, trigger_queue_url=fresh_redis(redis_server))
    with live_server(settings) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client



def _received(server: LiveServer) -> int:
    return int(server.app.state.ctx.services["engine"].sqs_notifications.received)


def test_s3_sends_its_events_to_sqs_and_each_created_object_makes_one_request(
        api: httpx.Client, server: LiveServer, s3: S3Server) -> None:
    s3c = boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=s3.endpoint, region_name="us-east-1")
    bucket, queue = f"events-{uuid.uuid4().hex[:8]}", f"landed-{uuid.uuid4().hex[:8]}"
    s3c.create_bucket(Bucket=bucket)
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3c.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})  # S3 sends a test event
    name = f"notified-{uuid.uuid4().hex[:8]}"
    apply(api, NOTIFIED.format(name=name, bucket=bucket, topic=arn))
    s3c.put_object(Bucket=bucket, Key="in/day 1.csv", Body=b"a,b\n")
    s3c.put_object(Bucket=bucket, Key="in/skip.txt", Body=b"not csv")
    s3c.put_object(Bucket=bucket, Key="out/x.csv", Body=b"not under the prefix")
    start = _received(server)
    [made] = wait_for(lambda: requests_of(api, name) or None, timeout=10, what="the object's request")
    done = wait_state(api, made["id"], "COMPLETED")
    etag = s3c.head_object(Bucket=bucket, Key="in/day 1.csv")["ETag"].strip('"')
    params = done["params"]
    assert (params["ObjectKey"], params["ObjectBucket"], str(params["ObjectSize"]), params["ObjectETag"]) == \
        ("in/day 1.csv", bucket, "4", etag)
    assert params["Source"] == f"s3://{bucket}/in/day 1.csv" and params["ObjectLastModified"]
    wait_for(lambda: _received(server) >= start + 3 and not sqs.receive_message(QueueUrl=url).get("Messages")
             or None, timeout=10, what="every notification handled and deleted")
    assert len(requests_of(api, name)) == 1


def test_notifications_forwarded_onto_formicarys_queue_work_and_a_repeat_makes_none(
        api: httpx.Client, server: LiveServer) -> None:
    topic, bucket = f"s3-events-{uuid.uuid4().hex[:6]}", f"fwd-{uuid.uuid4().hex[:6]}"
    name = f"notified-{uuid.uuid4().hex[:8]}"
    # a task no ant has the tag for: the request stays waiting (live), as a busy one would
    apply(api, NOTIFIED.format(name=name, bucket=bucket, topic=topic).replace("  method: SHELL",
                                                                           "  method: SHELL\n  tags: [nobody]"))
    client = redis.Redis.from_url(server.settings.trigger_queue_url, decode_responses=True)
    stream = f"formicary-queue-{topic}"
    try:
        event = {"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "2026-12-04T10:00:00.000Z",
                              "s3": {"bucket": {"name": bucket}, "object": {"key": "in/a.csv", "size": 1,
                                                                            "eTag": "e1", "sequencer": "01"}}}]}
        for _ in range(2):  # delivered twice (at least once): one request while the first is live
            client.xadd(stream, {"message": json.dumps(event)})
        [made] = wait_for(lambda: requests_of(api, name) or None, timeout=10, what="the forwarded event's request")
        assert (made["params"]["ObjectKey"], made["params"]["ObjectETag"]) == ("in/a.csv", "e1")
        last = client.xinfo_stream(stream)["last-generated-id"]
        wait_for(lambda: (g := client.xinfo_groups(stream)) and int(g[0]["pending"]) == 0
                 and g[0]["last-delivered-id"] == last or None, timeout=10, what="both entries acked")
        assert len(requests_of(api, name)) == 1
    finally:
        client.close()


def test_a_notification_trigger_without_a_topic_is_refused(api: httpx.Client) -> None:
    source = f"job_type: bad-{uuid.uuid4().hex[:6]}\ntriggers:\n" \
             "- {type: s3, name: a, bucket: b, mode: notification}\n" \
             "tasks:\n- task_type: t\n  method: SHELL\n  script: [true]\n"
    answer = api.post("/api/jobs/definitions", content=source, headers={"Content-Type": "application/yaml"})
    assert answer.status_code == 422 and "needs topic" in answer.json()["error"], answer.text
