"""Two queens on one PostgreSQL database take concurrent Strait triggers of one job: the same idempotency
key makes one run (every other answer is an idempotency hit on it), and the same payload within the
dedup window makes one run too (the core's unique user_key and the dedup claim decide, not a read)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from myrmica.config import Settings
from tests.support.live import live_server
from tests.support.postgres import create_database

TRIGGERS = 16


def test_two_queens_racing_on_one_key_or_one_payload_make_one_run(tmp_path: Path, postgres_cluster: str) -> None:
    url = create_database(postgres_cluster, f"t_{uuid.uuid4().hex[:12]}")
    token = "myr_test_" + uuid.uuid4().hex
    with ExitStack() as stack:
        queens = [stack.enter_context(live_server(Settings(
            data_dir=tmp_path / f"q{n}", database_url=url, admin_token=token, embedded_ant=False,
            http_allow_private=True))) for n in range(2)]
        clients = [stack.enter_context(q.client()) for q in queens]
        created = clients[0].post("/v1/jobs", json={"name": "race", "slug": "race", "dedup_window_secs": 3600,
                                                    "endpoint_url": "http://127.0.0.1:9/never"})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

        def fire(index: int, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
            return clients[index % 2].post(f"/v1/jobs/{job_id}/trigger", json=body, headers=headers)

        with ThreadPoolExecutor(max_workers=8) as pool:
            keyed = list(pool.map(lambda i: fire(i, {"scheduled_at": later, "payload": {"i": i}},
                                                 {"Idempotency-Key": "same-key"}), range(TRIGGERS)))
            same = list(pool.map(lambda i: fire(i, {"scheduled_at": later, "payload": {"x": 1}}, {}),
                                 range(TRIGGERS)))
        assert all(r.status_code == 201 for r in keyed + same), [r.text for r in keyed + same if r.status_code != 201]
        assert len({r.json()["id"] for r in keyed}) == 1
        assert sum(not r.json()["idempotency_hit"] for r in keyed) == 1
        assert len({r.json()["id"] for r in same}) == 1
        assert sum("run_token" in r.json() for r in same) == 1
        runs = clients[1].get(f"/v1/jobs/{job_id}/runs", params={"limit": "200"}).json()["data"]
        assert len(runs) == 2
