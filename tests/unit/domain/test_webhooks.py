"""Webhook calls as data: the retry policy's decisions and the checks of a call."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from myrmica.domain.errors import ValidationError
from myrmica.domain.webhooks import RetryPolicy, WebhookCall, hmac_signature


def test_the_default_policy_is_torks() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.timeout_secs) == (5, 5.0)
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 6.0, 8.0]
    assert all(policy.retryable(s) for s in (None, 429, 500, 502, 503, 504))
    assert not any(policy.retryable(s) for s in (200, 301, 400, 401, 404, 501))


def test_the_backoff_is_capped_and_may_be_zero() -> None:
    assert RetryPolicy(backoff_secs=10, max_backoff_secs=25).delay_after(9) == 25
    assert RetryPolicy(backoff_secs=0).delay_after(4) == 0


def test_a_policy_survives_its_json() -> None:
    policy = RetryPolicy(attempts=3, timeout_secs=1.5, backoff_secs=0.25, max_backoff_secs=9,
                         retry_statuses=frozenset({408, 503}))
    assert RetryPolicy.from_json(policy.to_json()) == policy


@pytest.mark.parametrize("kwargs", [{"attempts": 0}, {"attempts": 21}, {"timeout_secs": 0},
                                    {"timeout_secs": 301}, {"backoff_secs": -1}])
def test_a_policy_out_of_range_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["ftp://example.test/x", "example.test/hook", "http://", "http:///path",
                                 "http://a b.test/", "http://host:99999/", "x" * 3000, "javascript:alert(1)"])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ValidationError) as raised:
        WebhookCall(url=url, body="{}")
    assert raised.value.field == "url"


@pytest.mark.parametrize("headers", [{"Host": "evil"}, {"Content-Length": "1"}, {"bad name": "x"},
                                     {"X-Ok": "line\r\nInjected: 1"}, {"": "x"}])
def test_headers_that_would_break_the_request_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as raised:
        WebhookCall(url="http://127.0.0.1:1/hook", body="{}", headers=headers)
    assert raised.value.field == "headers"


def test_a_good_call_and_its_method() -> None:
    call = WebhookCall(url="https://hooks.example.test:8443/a?b=c", body='{"a": 1}',
                       headers={"Authorization": "Bearer x", "X-Event": "job"})
    assert call.method == "POST"
    with pytest.raises(ValidationError):
        WebhookCall(url="http://127.0.0.1/", body="", method="GET")
    with pytest.raises(ValidationError):
        WebhookCall(url="http://127.0.0.1/", body="x" * (1024 * 1024 + 1))


def test_the_signature_is_an_hmac_of_time_and_body() -> None:
    expected = hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert hmac_signature("key", "1700000000", "{}") == f"sha256={expected}"
    assert hmac_signature("other", "1700000000", "{}") != hmac_signature("key", "1700000000", "{}")
