"""Webhook calls, as data: what to send (URL, method, headers, body) and how hard to try (the retry policy).

Any dialect builds a :class:`WebhookCall` (Tork's job and task events, later Fastlane's and Strait's
signed deliveries) and hands it to the core sender, which stores it before the first attempt (an
outbox row), sends it, and retries it by its policy; a call is never dropped without a trace (it ends
DELIVERED or FAILED, with the last status and error). This module is pure: the policy's decisions
and the checks of a call, no I/O.

The default policy is Tork's (spec/tork.md §2.4): up to 5 attempts, 5 s each, a retry on a network
error or on 429/500/502/503/504, sleeping 2 s × the attempt number before the next one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from myrmica.domain.errors import ValidationError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 20
MAX_URL = 2000
MAX_BODY = 1024 * 1024
MAX_HEADERS = 50
METHODS = ("POST", "PUT", "PATCH")
_URL = re.compile(r"(?P<scheme>https?)://(?:[^/?#@\s]*@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_~%]+)"
                  r"(?::(?P<port>\d{1,5}))?(?:[/?#]\S*)?")
_FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}

# Delivery states of a stored call.
PENDING = "PENDING"  # waiting for its next attempt
SENDING = "SENDING"  # an attempt is in flight (under a sender's lease)
DELIVERED = "DELIVERED"  # a 2xx came back
FAILED = "FAILED"  # a status that is not retried, or the attempts ran out
STATES = (PENDING, SENDING, DELIVERED, FAILED)

# Strait's completion webhooks (spec/strait.md §7): 3 attempts, 5 s then 25 s apart, retried only on
# no answer and 5xx (never on a 4xx), each attempt signed at send time.
STRAIT_V1 = "strait-v1"
STRAIT_POLICY_ARGS: dict[str, Any] = {"attempts": 3, "timeout_secs": 10.0, "backoff_secs": 5.0,
                                      "max_backoff_secs": 1800.0, "backoff": "power",
                                      "retry_statuses": frozenset(range(500, 600))}
SIGNATURE_TOLERANCE_SECS = 300


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # every attempt, the first one included
    timeout_secs: float = 5.0  # per attempt
    # The wait before attempt n+1 is backoff_secs × n (``power``: backoff_secs ** n; ``doubling``:
    # backoff_secs × 2 ** (n - 1)) ...
    backoff_secs: float = 2.0
    max_backoff_secs: float = 3600.0  # ... at most this
    retry_statuses: frozenset[int] = RETRY_STATUSES
    backoff: str = "linear"  # linear | power | doubling

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= MAX_ATTEMPTS:
            raise ValidationError(f"a webhook's attempts must be 1 to {MAX_ATTEMPTS}", field="attempts")
        if not 0 < self.timeout_secs <= 300:
            raise ValidationError("a webhook's timeout must be more than 0 and at most 300 seconds", field="timeout")
        if self.backoff_secs < 0 or self.max_backoff_secs < 0:
            raise ValidationError("a webhook's backoff may not be negative", field="backoff")
        if self.backoff not in ("linear", "power", "doubling"):
            raise ValidationError("a webhook's backoff must be linear, power or doubling", field="backoff")

    def retryable(self, status: int | None) -> bool:
        """Whether an attempt that got ``status`` (None: no answer — a network error or a timeout) is tried again."""
        return status is None or status in self.retry_statuses

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after attempt number ``attempt`` (1-based) failed."""
        if self.backoff in ("power", "doubling"):
            try:
                delay = self.backoff_secs ** attempt if self.backoff == "power" else \
                    self.backoff_secs * 2.0 ** (attempt - 1)
                return min(delay, self.max_backoff_secs)
            except OverflowError:
                return self.max_backoff_secs
        return min(self.backoff_secs * attempt, self.max_backoff_secs)

    def to_json(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "timeout_secs": self.timeout_secs, "backoff_secs": self.backoff_secs,
                "max_backoff_secs": self.max_backoff_secs, "retry_statuses": sorted(self.retry_statuses),
                "backoff": self.backoff}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetryPolicy:
        return cls(attempts=int(data.get("attempts", 5)), timeout_secs=float(data.get("timeout_secs", 5.0)),
                   backoff_secs=float(data.get("backoff_secs", 2.0)),
                   max_backoff_secs=float(data.get("max_backoff_secs", 3600.0)),
                   retry_statuses=frozenset(int(s) for s in data.get("retry_statuses", RETRY_STATUSES)),
                   backoff=str(data.get("backoff", "linear")))


@dataclass(frozen=True)
class WebhookCall:
    url: str
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)  # stored encrypted: they may hold secrets
    method: str = "POST"
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    source: str = ""  # what it is about (a request id), for reading deliveries back
    event: str = ""  # what happened (``job.StateChange``), for reading deliveries back
    signature: str = ""  # how each attempt is signed at send time: "" (not) or STRAIT_V1
    signing_secret: str = ""  # stored encrypted

    def __post_init__(self) -> None:
        check_url(self.url)
        if self.signature not in ("", STRAIT_V1):
            raise ValidationError(f"unknown webhook signature scheme {self.signature!r}", field="signature")
        if self.method not in METHODS:
            raise ValidationError(f"a webhook's method must be one of {', '.join(METHODS)}", field="method")
        if len(self.body.encode()) > MAX_BODY:
            raise ValidationError(f"a webhook's body may be at most {MAX_BODY} bytes", field="body")
        if len(self.headers) > MAX_HEADERS:
            raise ValidationError(f"a webhook may have at most {MAX_HEADERS} headers", field="headers")
        for name, value in self.headers.items():
            if not name or any(c in name for c in " :\r\n\t") or name.lower() in _FORBIDDEN_HEADERS:
                raise ValidationError(f"a webhook may not set the header {name!r}", field="headers")
            if any(c in str(value) for c in "\r\n\0"):
                raise ValidationError(f"the webhook header {name!r} holds a line break", field="headers")


def check_url(url: str) -> None:
    """An absolute http(s) URL with a host, of reasonable length."""
    if len(url) > MAX_URL:
        raise ValidationError(f"a webhook URL may be at most {MAX_URL} characters", field="url")
    match = _URL.fullmatch(url)
    if match is None or int(match.group("port") or 0) > 65535:
        raise ValidationError("a webhook URL must be an http or https URL", field="url")


def hmac_signature(secret: str, timestamp: str, body: str) -> str:
    """``sha256=<hex>`` of ``timestamp.body`` keyed by ``secret``: a signature header a receiver can check
    (for dialects whose webhooks are signed)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def strait_signature(secret: str, timestamp: str, body: bytes | str) -> str:
    """``v1=<hex>``: HMAC-SHA256 keyed by ``secret`` over ``timestamp.body`` (Strait's X-Strait-Signature)."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def strait_headers(secret: str, body: str, now_epoch: float) -> dict[str, str]:
    """The signature headers of one attempt sent at ``now_epoch``."""
    timestamp = str(int(now_epoch))
    signature = strait_signature(secret, timestamp, body)
    return {"X-Strait-Timestamp": timestamp, "X-Strait-Signature": signature, "X-Webhook-Signature": signature}


def verify_strait_signature(secret: str, timestamp: str, body: bytes, signature: str, *, now_epoch: float,
                            tolerance_secs: float = SIGNATURE_TOLERANCE_SECS) -> bool:
    """What a receiver checks: the signature (in constant time) and the timestamp's age."""
    try:
        age = abs(now_epoch - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_secs and hmac.compare_digest(strait_signature(secret, timestamp, body), signature)


@dataclass(frozen=True)
class Attempt:
    """One attempt of a call: when, the status code (0: no answer), the error, the call's state after it
    (PENDING: it will be tried again), and the start of the answer's body and its headers."""

    at: datetime
    status: int
    error: str
    state: str
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "status": self.status, "error": self.error, "state": self.state,
                "body": self.body, "headers": dict(self.headers)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attempt:
        return cls(at=datetime.fromisoformat(str(data["at"])), status=int(data.get("status") or 0),
                   error=str(data.get("error") or ""), state=str(data.get("state") or ""),
                   body=str(data.get("body") or ""),
                   headers={str(k): str(v) for k, v in (data.get("headers") or {}).items()})


@dataclass(frozen=True)
class DeliveryOutcome:
    """How far a stored call got: its last attempt's status code (0: none came back) and error, the
    number of attempts made, and when it last changed (read back by what it is about: its ``source``);
    ``history``: every attempt, oldest first."""

    url: str
    event: str
    state: str
    attempts: int
    status: int
    error: str
    at: datetime
    history: tuple[Attempt, ...] = ()
    body_start: str = ""  # the call's body's first 10 characters (Fastlane's error texts quote them)
