"""A trigger's ``rate_limit {max, window}`` (spec §2.8: a sliding window persisted in ``trigger_states``):
a webhook's holds across two queens on one PostgreSQL database and is emptied by a state reset; an S3
trigger's drops the objects over it (the watermark moves past them, as for a filtered one)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from myrmica.config import Settings
from tests.support.jobs import apply, wait_for
from tests.support.live import live_server
from tests.support.migrated import migrated_postgres, migrated_sqlite
from tests.support.s3 import S3Server, moto_s3

HOOKED = """
job_type: {name}
triggers:
- type: webhook
  name: open
  rate_limit: {{max: 2, window: 1h}}
tasks:
- task_type: t
  method: SHELL
  script: ["true"]
"""

LANDED = """
job_type: {name}
triggers:
- type: s3
  name: landed
  bucket: {bucket}
  poll_interval: 20ms
  rate_limit: {{max: 2, window: 1h}}
tasks:
- task_type: t
  method: SHELL
  script: ["true"]
"""


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


def _settings(tmp: Path, database_url: str, **more: Any) -> Settings:
    return Settings(data_dir=tmp / f"data-{uuid.uuid4().hex[:6]}", database_url=database_url,
                    admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=False, sandbox="none",
                    trigger_tick_secs=0.01, trigger_rescan_secs=0.05, **more)


def _requests(api: httpx.Client, job_type: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = api.get("/api/jobs/requests", params={"job_type": job_type}).json()["Records"]
    return records


def test_a_webhook_rate_limit_holds_across_two_queens(tmp_path: Path, postgres_cluster: str) -> None:
    one = _settings(tmp_path, migrated_postgres(postgres_cluster))
    with live_server(one) as a, live_server(replace(one, data_dir=tmp_path / "two")) as b, a.client() as api:
        name = f"hooked-{uuid.uuid4().hex[:8]}"
        apply(api, HOOKED.format(name=name))
        answers = [httpx.post(f"{queen.url}/api/triggers/{name}/open", json={}).json() for queen in (a, b, b, a)]
        assert [bool(x["request_id"]) for x in answers] == [True, True, False, False]
        assert all(x["filtered"] for x in answers[2:]) and len(_requests(api, name)) == 2
        [listed] = api.get(f"/api/v1/jobs/definitions/{name}/triggers").json()["triggers"]
        assert listed["state"]["rate_window"] == 2
        assert api.delete(f"/api/v1/jobs/definitions/{name}/triggers/open/state").json() == {"reset": True}
        again = httpx.post(f"{b.url}/api/triggers/{name}/open", json={}).json()
        assert again["request_id"] and len(_requests(api, name)) == 3


def test_an_s3_trigger_drops_the_objects_over_its_rate_limit(tmp_path: Path, s3: S3Server) -> None:
    client = boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1")
    bucket = f"rate-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    settings = _settings(tmp_path, migrated_sqlite(tmp_path / "db.sqlite"), trigger_s3_endpoint_url=s3.endpoint)
    with live_server(settings) as live, live.client() as api:
        name = f"landed-{uuid.uuid4().hex[:8]}"
        apply(api, LANDED.format(name=name, bucket=bucket))

        def state() -> dict[str, Any] | None:
            [listed] = api.get(f"/api/v1/jobs/definitions/{name}/triggers").json()["triggers"]
            found: dict[str, Any] | None = listed["state"]
            return found

        wait_for(lambda: (s := state()) is not None and s["cursor"] is not None, timeout=10, what="the watermark")
        keys = [f"k{i}.csv" for i in range(4)]
        for key in keys:
            client.put_object(Bucket=bucket, Key=key, Body=b"x")
        last = f"k3.csv@{client.head_object(Bucket=bucket, Key='k3.csv')['ETag'].strip(chr(34))}"
        wait_for(lambda: (s := state()) is not None and last in s["cursor"]["seen"] and s["pending"] == 0 or None,
                 timeout=10, what="the watermark past the last object")
        made = _requests(api, name)
        assert len(made) == 2, made
        assert {r["params"]["ObjectKey"] for r in made} < set(keys)
        assert state()["rate_window"] == 2  # type: ignore[index]

