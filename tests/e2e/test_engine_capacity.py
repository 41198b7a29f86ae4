"""More requests than the ants can take: the rest wait for free slots, none runs beyond an ant's capacity,
and every one completes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

from myrmica.config import Settings
from tests.support.jobs import TERMINAL, apply, get_request, submit, wait_state

CAPACITY = 2


@pytest.fixture
def server_settings(server_settings: Settings) -> Settings:
    # No sandbox: the tasks of different requests share a directory to count each other, which a sandbox
    # (where each request sees only its own directories) exists to prevent.
    return dataclasses.replace(server_settings, ant_capacity=CAPACITY, sandbox="none")


def job(marks: Path) -> str:
    # Each task marks itself running, counts the marks, and unmarks itself: a count above the
    # capacity would mean the ant ran more tasks at once than it may.
    return f"""job_type: e2e-capacity
tasks:
- task_type: busy
  method: SHELL
  script:
    - touch {marks}/running.$$; ls {marks} | grep -c '^running' >> {marks}/observed; sleep 0.1; rm {marks}/running.$$
"""


def test_requests_beyond_the_ants_capacity_wait_for_a_slot_and_all_complete(api: httpx.Client,
                                                                           tmp_path: Path) -> None:
    apply(api, job(tmp_path))
    api.put("/api/jobs/definitions/e2e-capacity/concurrency", data={"concurrency": "100"}).raise_for_status()
    ids = [submit(api, "e2e-capacity")["id"] for _ in range(5 * CAPACITY)]
    ended = [wait_state(api, request_id, TERMINAL, timeout=60) for request_id in ids]
    assert [r["job_state"] for r in ended] == ["COMPLETED"] * len(ids), [get_request(api, i) for i in ids]
    observed = [int(n) for n in (tmp_path / "observed").read_text().split()]
    assert len(observed) == len(ids)
    assert max(observed) <= CAPACITY, observed
