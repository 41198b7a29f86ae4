"""S3 and queue triggers (spec §2.8) against moto's S3 server and a real redis-server on 127.0.0.1: an
object put makes exactly one request with its key, bucket, size and ETag as params; a restarted queen
fires no old object again; two queens on one database make one request per object; the management
routes list a trigger's watermark, reset it and fire by hand; a bad trigger is refused at upload."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from myrmica.config import Settings
from tests.support.jobs import apply, requests_of, wait_for, wait_state
from tests.support.live import LiveServer, live_server
from tests.support.migrated import migrated_postgres, migrated_sqlite
from tests.support.s3 import S3Server, moto_s3

S3_JOB = """
job_type: {name}
triggers:
- type: s3
  name: landed
  bucket: {bucket}
  prefix: incoming/
  suffix: .csv
  poll_interval: 20ms
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


def _settings(tmp: Path, s3: S3Server, database_url: str, **more: Any) -> Settings:
    fields: dict[str, Any] = {"embedded_ant": True, **more}
    return Settings(data_dir=tmp / f"data-{uuid.uuid4().hex[:6]}", database_url=database_url,
                    admin_token="myr_test_" + uuid.uuid4().hex, ant_id="embedded-ant",
                    work_dir=tmp / "work", sandbox="none", trigger_tick_secs=0.01, trigger_rescan_secs=0.05,
                    trigger_s3_endpoint_url=s3.endpoint, **fields)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("triggers")
    with live_server(_settings(tmp, s3, migrated_sqlite(tmp / "myrmica.db"))) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def _bucket(s3: S3Server) -> tuple[Any, str]:
    client = boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1")
    name = f"land-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=name)
    return client, name


def _polls(server: LiveServer) -> int:
    return int(server.app.state.ctx.services["s3_triggers"].polls)


def _state(api: httpx.Client, job_type: str, name: str = "landed") -> dict[str, Any] | None:
    answer = api.get(f"/api/v1/jobs/definitions/{job_type}/triggers")
    assert answer.status_code == 200, answer.text
    found = [t for t in answer.json()["triggers"] if t["name"] == name]
    assert found, answer.json()
    state: dict[str, Any] | None = found[0]["state"]
    return state


def _watermarked(api: httpx.Client, job_type: str) -> dict[str, Any]:
    return wait_for(lambda: (s := _state(api, job_type)) and s["cursor"] is not None and s,
                    timeout=10, what="the first poll's watermark")



def _count(api: httpx.Client, job_type: str, n: int) -> list[dict[str, Any]] | None:
    found = requests_of(api, job_type)
    assert len(found) <= n, found
    return found if len(found) == n else None


def _after_polls(*servers: LiveServer, more: int = 2) -> None:
    """Every server has listed the bucket ``more`` times since now."""
    start = [_polls(s) for s in servers]
    wait_for(lambda: all(_polls(s) >= n + more for s, n in zip(servers, start, strict=True)), timeout=10,
             what="more polls")


def test_an_object_put_makes_one_request_with_its_params(api: httpx.Client, server: LiveServer,
                                                         s3: S3Server) -> None:
    client, bucket = _bucket(s3)
    client.put_object(Bucket=bucket, Key="incoming/old.csv", Body=b"before the first poll")
    name = f"etl-{uuid.uuid4().hex[:8]}"
    apply(api, S3_JOB.format(name=name, bucket=bucket))
    mark = _watermarked(api, name)
    assert mark["fired_count"] == 0 and mark["pending"] == 0
    client.put_object(Bucket=bucket, Key="incoming/data.csv", Body=b"a,b\n1,2\n")
    client.put_object(Bucket=bucket, Key="incoming/skip.txt", Body=b"not csv")
    client.put_object(Bucket=bucket, Key="elsewhere/data.csv", Body=b"not under the prefix")
    [made] = wait_for(lambda: _count(api, name, 1), timeout=10, what="the object's request")
    done = wait_state(api, made["id"], "COMPLETED")
    etag = client.head_object(Bucket=bucket, Key="incoming/data.csv")["ETag"].strip('"')
    params = done["params"]
    assert (params["ObjectKey"], params["ObjectBucket"], str(params["ObjectSize"]), params["ObjectETag"]) == \
        ("incoming/data.csv", bucket, "8", etag)
    assert params["Source"] == f"s3://{bucket}/incoming/data.csv"
    _after_polls(server)
    assert len(requests_of(api, name)) == 1
    state = _state(api, name)
    assert state is not None and state["fired_count"] == 1 and state["pending"] == 0


def test_reset_records_a_new_watermark_and_fire_makes_a_request_by_hand(api: httpx.Client, server: LiveServer,
                                                                        s3: S3Server) -> None:
    client, bucket = _bucket(s3)
    name = f"etl-{uuid.uuid4().hex[:8]}"
    apply(api, S3_JOB.format(name=name, bucket=bucket))
    _watermarked(api, name)
    client.put_object(Bucket=bucket, Key="incoming/one.csv", Body=b"1")
    wait_for(lambda: _count(api, name, 1), timeout=10, what="the first request")
    base = f"/api/v1/jobs/definitions/{name}/triggers/landed"
    assert api.delete(f"{base}/state").json() == {"reset": True}
    _watermarked(api, name)  # a new first poll: the old object is not fired again
    _after_polls(server)
    assert len(requests_of(api, name)) == 1
    payload = base64.b64encode(b'{"Key": "incoming/by-hand.csv", "Bucket": "x", "Size": 3}').decode()
    fired = api.post(f"{base}/fire", json={"payload": payload})
    assert fired.status_code == 202, fired.text
    request = wait_state(api, fired.json()["request_id"], "COMPLETED")
    assert request["params"]["ObjectKey"] == "incoming/by-hand.csv"
    assert request["params"]["Source"] == "s3://x/incoming/by-hand.csv"
    for body in ({"payload": "%%%"}, {"payload": 5}, {"payload": None}):
        bad = api.post(f"{base}/fire", json=body)
        assert bad.status_code == 400 and bad.json()["field"] == "payload", bad.text
    for raw in (b"not json", b"[1, 2]"):  # a body that is no JSON object: Formicary's 4xx shape too
        bad = api.post(f"{base}/fire", content=raw, headers={"Content-Type": "application/json"})
        assert 400 <= bad.status_code < 500 and bad.json()["error"], bad.text
    for path, method in ((f"/api/v1/jobs/definitions/{name}/triggers/nope/state", "DELETE"),
                         (f"/api/v1/jobs/definitions/{name}/triggers/nope/fire", "POST"),
                         ("/api/v1/jobs/definitions/no-such-job/triggers", "GET")):
        missing = api.request(method, path, json={})
        assert missing.status_code == 404 and "error" in missing.json(), missing.text


@pytest.mark.parametrize(("trigger", "words"), [
    ("{type: s3, name: a}", "bucket is required"),
    ("{type: s3, name: a, bucket: b, mode: push}", "mode must be"),
    ("{type: s3, name: a, bucket: b, poll_interval: soon}", "poll_interval"),
    ("{type: queue, name: a}", "topic is required"),
    ("{type: ftp, name: a}", "type must be one of"),
    ("{type: webhook}", "name is required"),
])
def test_a_bad_trigger_is_refused_at_upload(api: httpx.Client, trigger: str, words: str) -> None:
    source = f"job_type: bad-{uuid.uuid4().hex[:6]}\ntriggers:\n- {trigger}\n" \
             "tasks:\n- task_type: t\n  method: SHELL\n  script: [true]\n"
    answer = api.post("/api/jobs/definitions", content=source, headers={"Content-Type": "application/yaml"})
    assert 400 <= answer.status_code < 500 and words in answer.json()["error"], answer.text


def test_two_names_alike_are_refused(api: httpx.Client) -> None:
    source = "job_type: twice\ntriggers:\n- {type: webhook, name: a}\n- {type: s3, name: a, bucket: b}\n" \
             "tasks:\n- task_type: t\n  method: SHELL\n  script: [true]\n"
    answer = api.post("/api/jobs/definitions", content=source, headers={"Content-Type": "application/yaml"})
    assert answer.status_code == 422 and "used twice" in answer.json()["error"], answer.text


def test_a_restarted_queen_fires_no_old_object_again(tmp_path: Path, s3: S3Server) -> None:
    client, bucket = _bucket(s3)
    settings = _settings(tmp_path, s3, migrated_sqlite(tmp_path / "myrmica.db"), embedded_ant=False)
    name = f"etl-{uuid.uuid4().hex[:8]}"
    with live_server(settings) as first, first.client() as api:
        apply(api, S3_JOB.format(name=name, bucket=bucket))
        _watermarked(api, name)
        client.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"a")
        wait_for(lambda: _count(api, name, 1), timeout=10, what="the first request")
    with live_server(replace(settings)) as again, again.client() as api:
        _after_polls(again)
        assert len(requests_of(api, name)) == 1
        client.put_object(Bucket=bucket, Key="incoming/b.csv", Body=b"b")
        made = wait_for(lambda: _count(api, name, 2), timeout=10, what="the new object's request")
        assert sorted(r["params"]["ObjectKey"] for r in made) == ["incoming/a.csv", "incoming/b.csv"]


def _engine(server: LiveServer) -> Any:
    return server.app.state.ctx.services["engine"]


def test_only_the_leader_polls_and_another_queen_takes_over(tmp_path: Path, s3: S3Server,
                                                            postgres_cluster: str) -> None:
    client, bucket = _bucket(s3)
    database = migrated_postgres(postgres_cluster)
    name = f"etl-{uuid.uuid4().hex[:8]}"
    one = _settings(tmp_path, s3, database, embedded_ant=False, leader_lease_secs=0.4)
    two = replace(one, data_dir=tmp_path / "data-two")
    with ExitStack() as first:
        a = first.enter_context(live_server(one))
        with live_server(two) as b, b.client() as api:
            assert _engine(a).leader and not _engine(b).leader  # the first to start took the lease
            apply(api, S3_JOB.format(name=name, bucket=bucket))
            _watermarked(api, name)
            keys = [f"incoming/a-{i}.csv" for i in range(3)]
            for key in keys:
                client.put_object(Bucket=bucket, Key=key, Body=key.encode())
            wait_for(lambda: _count(api, name, 3), timeout=10, what="a request per object")
            _after_polls(a)
            assert _polls(b) == 0  # the follower never listed the bucket
            first.close()  # the leader stops (giving up its lease): b takes over, from the watermark
            wait_for(lambda: _engine(b).leader or None, timeout=10, what="the other queen to lead")
            client.put_object(Bucket=bucket, Key="incoming/b.csv", Body=b"b")
            made = wait_for(lambda: _count(api, name, 4), timeout=10, what="the new leader's request")
            assert sorted(r["params"]["ObjectKey"] for r in made) == sorted([*keys, "incoming/b.csv"])
            _after_polls(b)
            assert len(requests_of(api, name)) == 4
