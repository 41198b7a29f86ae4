"""The Strait dialect's pure rules (domain/strait): the health score's 70/30 formula, the status mapping,
execution-window alignment in a time zone, the canonical payload and its hash, TTLs, job defaults."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from myrmica.domain.strait.errors import StraitError
from myrmica.domain.strait.health import health, window
from myrmica.domain.strait.statuses import run_status
from myrmica.domain.strait.translate import core_document
from myrmica.domain.strait.trigger import Trigger, canonical_payload, prepare, read_bulk, window_start
from myrmica.domain.strait.validate import check_url, create_job, update_job

NOW = datetime(2026, 3, 20, 12, 30, 15, tzinfo=UTC)


def test_health_without_runs_is_minus_one() -> None:
    stats = health([])
    assert stats["health_score"] == -1 and stats["success_rate"] == 0 and stats["total_runs"] == 0


def test_health_is_seventy_percent_success_plus_thirty_stability() -> None:
    steady = health([("completed", 2.0)] * 9 + [("failed", 2.0)])
    assert steady["success_rate"] == 90 and steady["health_score"] == pytest.approx(0.7 * 90 + 30)
    # p95 > 2 * avg: stability loses (p95/avg - 2) * 15
    runs = [("completed", 1.0)] * 18 + [("completed", 10.0)] * 2
    stats = health(runs)
    avg, p95 = stats["avg_duration_secs"], stats["p95_duration_secs"]
    assert p95 == 10.0 and avg == pytest.approx(1.9)
    assert stats["health_score"] == pytest.approx(70 + max(0.0, 30 - min((p95 / avg - 2) * 15, 30)))
    assert health([("completed", 0.0)])["health_score"] == 70  # no duration: no stability
    mixed = health([("crashed", 1.0), ("system_failed", 1.0), ("dead_letter", 1.0), ("expired", None)])
    assert mixed["crashed_runs"] == 2 and mixed["total_runs"] == 3 and mixed["expired_runs"] == 1


def test_health_windows() -> None:
    assert window(None)[0] == "7d" and window("1h")[1] == timedelta(hours=1)
    with pytest.raises(StraitError, match="invalid window: must be 1h, 1d, 7d, or 30d"):
        window("2h")


@pytest.mark.parametrize(("state", "code", "scheduled", "status"), [
    ("PENDING", "", NOW + timedelta(seconds=5), "delayed"), ("PENDING", "", None, "queued"),
    ("READY", "", None, "dequeued"), ("EXECUTING", "", None, "executing"), ("BLOCKED", "", None, "waiting"),
    ("COMPLETED", "", None, "completed"), ("CANCELLED", "ERR_JOB_CANCELLED", None, "canceled"),
    ("FAILED", "ERR_TASK_TIMED_OUT", None, "timed_out"), ("FAILED", "ERR_ENDPOINT_SERVER", None, "dead_letter"),
    ("FAILED", "ERR_ENDPOINT_CLIENT", None, "dead_letter"), ("FAILED", "ERR_STRAIT_EXPIRED", None, "expired"),
    ("FAILED", "ERR_STRAIT_CRASHED", None, "crashed"), ("FAILED", "ERR_ANT_RESOURCES", None, "system_failed"),
    ("FAILED", "ERR_TASK_EXECUTE", None, "failed"),
])
def test_core_states_map_onto_strait_statuses(state: str, code: str, scheduled: datetime | None,
                                              status: str) -> None:
    assert run_status(state, code, scheduled_at=scheduled, now=NOW) == status


def test_the_execution_window_shifts_to_its_next_minute_in_its_zone() -> None:
    assert window_start("* * * * *", "", NOW) is None
    assert window_start("30 12 * * *", "UTC", NOW) is None  # this minute is in the window
    start = window_start("0 9 * * *", "America/New_York", NOW)
    assert start == datetime(2026, 3, 20, 13, 0, tzinfo=UTC)  # 08:30 EDT now: 09:00 EDT today
    assert window_start("0 0 1 1 *", "UTC", NOW) == datetime(2027, 1, 1, tzinfo=UTC)


def test_the_canonical_payload_and_its_hash() -> None:
    payload, text, digest = canonical_payload({"b": [1, 2], "a": {"y": 1, "x": "é"}})
    assert text == '{"a":{"x":"é","y":1},"b":[1,2]}' and digest == hashlib.sha256(text.encode()).hexdigest()
    assert canonical_payload(None)[1] == "{}"


def test_ttl_counts_from_the_start_and_defaults_to_timeout_plus_sixty() -> None:
    _, job = create_job({"name": "n", "slug": "s", "endpoint_url": "https://hooks.example/x", "timeout_secs": 30})
    assert prepare(job, Trigger(), now=NOW).expires_at == NOW + timedelta(seconds=90)
    later = NOW + timedelta(hours=1)
    prepared = prepare(job, Trigger(scheduled_at=later, ttl_secs=10), now=NOW)
    assert prepared.scheduled_at == later and prepared.expires_at == later + timedelta(seconds=10)
    assert prepare({**job, "run_ttl_secs": 600}, Trigger(), now=NOW).expires_at == NOW + timedelta(seconds=600)


def test_job_defaults_partial_updates_and_the_core_definition() -> None:
    project, job = create_job({"project_id": "p", "name": "n", "slug": "s", "endpoint_url": "https://h.example/"})
    assert project == "p" and job["max_attempts"] == 3 and job["timeout_secs"] == 300 and job["enabled"] is True
    assert job["version_policy"] == "pin" and job["retry_strategy"] == "exponential"
    updated = update_job({"max_attempts": 5, "tags": {"a": "b"}}, job)
    assert updated["max_attempts"] == 5 and updated["name"] == "n" and updated["tags"] == {"a": "b"}
    with pytest.raises(StraitError) as caught:
        update_job({"project_id": "other"}, {**job, "project_id": "p"})
    assert caught.value.field == "project_id"
    document = core_document("01J", {**updated, "max_concurrency_per_key": 2, "cron": "*/5 * * * *"}, 2)
    assert document["group_concurrency"] == 2 and document["cron_trigger"] == "*/5 * * * *"
    assert document["tasks"][0]["retry"] == 4 and document["tasks"][0]["timeout"] == "300s"


def test_url_rules_and_the_allow_list() -> None:
    assert check_url("http://127.0.0.1:9000/x", "u", allowed_hosts=frozenset({"127.0.0.1"}))
    assert check_url("http://10.1.2.3/x", "u", allow_private=True)
    for url in ("http://100.64.0.1/", "http://[fd00::1]/", "http://[::ffff:127.0.0.1]/", "http://x.localhost/",
                "http://metadata.google.internal/", "http://0.0.0.0/"):
        with pytest.raises(StraitError):
            check_url(url, "u")


def test_bulk_items_are_checked_whole() -> None:
    with pytest.raises(StraitError, match="at most 500"):
        read_bulk({"items": [{}] * 501})
    with pytest.raises(StraitError) as caught:
        read_bulk({"items": [{}, {"priority": 99}]})
    assert caught.value.field == "items[1].priority"
    with pytest.raises(StraitError):
        read_bulk({"items": []})
