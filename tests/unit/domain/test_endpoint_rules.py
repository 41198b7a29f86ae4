"""Pure rules of endpoint runs: retry strategies, the SSRF guard's address rules, webhook signatures,
run tokens."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest

from myrmica.domain.definition_model import TaskDefinition
from myrmica.domain.egress import address_refusal, host_allowed, name_refusal
from myrmica.domain.retry import strategy_base, strategy_delay, task_retry_delay
from myrmica.domain.webhooks import (
    STRAIT_POLICY_ARGS,
    RetryPolicy,
    strait_headers,
    strait_signature,
    verify_strait_signature,
)
from myrmica.security.run_tokens import RunTokenInvalid, RunTokenWrongRun, issue_run_token, verify_run_token


class Fixed(random.Random):
    """A random source whose uniform() returns one end of the range (or its middle)."""

    def __init__(self, where: str) -> None:
        super().__init__(0)
        self.where = where

    def uniform(self, a: float, b: float) -> float:
        return {"low": a, "high": b, "mid": (a + b) / 2}[self.where]


@pytest.mark.parametrize(("strategy", "delays", "expected"), [
    ("exponential", [], [1, 2, 4, 8, 16]),
    ("linear", [], [1, 2, 3, 4, 5]),
    ("fixed", [], [1, 1, 1, 1, 1]),
    ("custom", [3, 10], [3, 10, 10, 10, 10]),
    ("custom", [], [1, 2, 4, 8, 16]),  # an empty list falls back to exponential
])
def test_strategy_bases(strategy: str, delays: list[float], expected: list[float]) -> None:
    assert [strategy_base(strategy, n, delays) for n in range(1, 6)] == expected
    assert [strategy_delay(strategy, n, delays, Fixed("mid")) for n in range(1, 6)] == expected


def test_jitter_floor_and_cap() -> None:
    assert strategy_delay("exponential", 4, [], Fixed("low")) == pytest.approx(6.4)  # 8 - 20 %
    assert strategy_delay("exponential", 4, [], Fixed("high")) == pytest.approx(9.6)  # 8 + 20 %
    assert strategy_delay("fixed", 1, [], Fixed("low")) == 1.0  # never below 1 s
    assert strategy_delay("exponential", 30, [], Fixed("high")) == 3600.0  # never above 1 h
    assert strategy_delay("exponential", 10_000, [], Fixed("low")) == pytest.approx(2880.0)
    assert strategy_delay("custom", 1, [7200], Fixed("low")) == pytest.approx(2880.0)  # capped, then jittered
    rng = random.Random(7)
    for n in range(1, 40):
        delay = strategy_delay("exponential", n, [], rng)
        assert 1.0 <= delay <= 3600.0
        assert abs(delay - min(2.0 ** (n - 1), 3600.0)) <= 0.2 * min(2.0 ** (n - 1), 3600.0) + 1.0


def test_an_endpoint_task_retries_by_its_strategy() -> None:
    task = TaskDefinition.model_validate({"task_type": "t", "method": "HTTP_ENDPOINT", "retry": 3,
                                          "endpoint": {"retry_strategy": "linear"}})
    assert [task_retry_delay(task, attempt, Fixed("mid")) for attempt in range(3)] == [1, 2, 3]
    with pytest.raises(ValueError, match="exponential, linear, fixed, or custom"):
        TaskDefinition.model_validate({"task_type": "t", "endpoint": {"retry_strategy": "random"}})
    with pytest.raises(ValueError, match="positive"):
        TaskDefinition.model_validate({"task_type": "t", "endpoint": {"retry_delays_secs": [1, 0]}})


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1",
                                     "224.0.0.1"])
def test_private_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None


def test_public_addresses_and_names() -> None:
    assert address_refusal(ipaddress.ip_address("93.184.216.34")) is None
    assert address_refusal(ipaddress.ip_address("2606:4700::1111")) is None
    assert name_refusal("localhost") and name_refusal("metadata.google.internal") and name_refusal("a.localhost")
    assert name_refusal("[::1]") and name_refusal("169.254.169.254")
    assert name_refusal("example.com") is None
    assert host_allowed("127.0.0.1", 8080, {"127.0.0.1"}) and host_allowed("127.0.0.1", 8080, {"127.0.0.1:8080"})
    assert not host_allowed("127.0.0.1", 8081, {"127.0.0.1:8080"}) and not host_allowed("127.0.0.1", 1, set())


def test_strait_signature_is_hmac_sha256_over_ts_dot_body() -> None:
    # computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec
    import hashlib
    import hmac
    expected = hmac.new(b"whsec", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert strait_signature("whsec", "1700000000", '{"a":1}') == f"v1={expected}"
    headers = strait_headers("whsec", '{"a":1}', 1700000000.7)
    assert headers["X-Strait-Timestamp"] == "1700000000"
    assert headers["X-Strait-Signature"] == headers["X-Webhook-Signature"] == f"v1={expected}"
    good = dict(secret="whsec", timestamp="1700000000", body=b'{"a":1}', signature=f"v1={expected}")
    assert verify_strait_signature(**good, now_epoch=1700000100)
    assert not verify_strait_signature(**{**good, "body": b'{"a":2}'}, now_epoch=1700000100)
    assert not verify_strait_signature(**{**good, "secret": "other"}, now_epoch=1700000100)
    assert not verify_strait_signature(**good, now_epoch=1700000000 + 301)  # too old


def test_strait_webhook_policy() -> None:
    policy = RetryPolicy(**STRAIT_POLICY_ARGS)
    assert [policy.delay_after(n) for n in (1, 2, 3)] == [5, 25, 125]
    assert policy.attempts == 3
    assert policy.retryable(None) and policy.retryable(500) and policy.retryable(503)
    assert not policy.retryable(429) and not policy.retryable(404) and not policy.retryable(400)
    assert RetryPolicy.from_json(policy.to_json()) == policy


def test_run_tokens() -> None:
    key, now = b"k" * 32, datetime(2026, 1, 1, tzinfo=UTC)
    token = issue_run_token(key, "run-1", expires_at=now + timedelta(minutes=5), now=now)
    assert verify_run_token(key, token, "run-1", now=now + timedelta(minutes=1)) == "run-1"
    with pytest.raises(RunTokenWrongRun):
        verify_run_token(key, token, "run-2", now=now)
    with pytest.raises(RunTokenInvalid, match="expired"):
        verify_run_token(key, token, "run-1", now=now + timedelta(minutes=6))
    with pytest.raises(RunTokenInvalid):
        verify_run_token(b"x" * 32, token, "run-1", now=now)
    with pytest.raises(RunTokenInvalid):
        verify_run_token(key, "not-a-jwt", "run-1")
    with pytest.raises(RunTokenInvalid):
        verify_run_token(key, "", "run-1")
    real = issue_run_token(key, "run-1", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(RunTokenInvalid, match="expired"):
        verify_run_token(key, real, "run-1")
