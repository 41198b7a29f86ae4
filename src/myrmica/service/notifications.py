"""A job's ``notify`` (spec §2.1): when a request ends, an email to each ``notify.email.recipients``
(through the SMTP server of ``smtp_host``) and a Slack-style message to each ``notify.slack.recipients``
that is an incoming-webhook URL (a JSON ``{"text": …}`` POSTed through the webhook outbox, so it is
retried and never silently dropped), each on its ``when``: ``always``, ``onSuccess`` (COMPLETED),
``onFailure`` (FAILED; and COMPLETED when the previous request of that job type had FAILED, as Formicary),
``never`` (which sends nothing: Formicary's code sends on it, a bug). Forked children (a request with a
parent) notify nobody. A Slack recipient that is a channel name, not a URL, is skipped with a log line
(Myrmica has no Slack token).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from myrmica.domain.records import ENDED, DefinitionRecord, JobEvent
from myrmica.domain.webhooks import RetryPolicy, WebhookCall
from myrmica.service.jobs import JobService

log = logging.getLogger("myrmica.notify")

WHENS = ("always", "onSuccess", "onFailure", "never")


class Mailer(Protocol):
    @property
    def configured(self) -> bool: ...
    async def send(self, to: str, subject: str, body: str) -> None: ...


async def send_retrying(mailer: Mailer, to: str, subject: str, text: str, *, about: str) -> None:
    """Three tries, 1 s then 2 s apart, on the SMTP server's own errors; the last one is logged, naming
    ``about`` and the recipient (never the text)."""
    for attempt in range(3):
        try:
            await mailer.send(to, subject, text)
            return
        except Exception as exc:
            if attempt == 2:
                log.warning("%s: email to %s failed: %s", about, to, exc)
            else:
                await asyncio.sleep(1.0 * (attempt + 1))


def notify_of(definition: DefinitionRecord) -> dict[str, Any]:
    notify = definition.spec.get("notify")
    return notify if isinstance(notify, dict) else {}


def has_notify(definition: DefinitionRecord) -> bool:
    return any(isinstance(v, dict) and v.get("recipients") for v in notify_of(definition).values())


def wanted(when: str, state: str, previous_failed: bool) -> bool:
    if when == "never":
        return False
    if when == "onSuccess":
        return state == "COMPLETED"
    if when == "onFailure":
        return state == "FAILED" or (state == "COMPLETED" and previous_failed)
    return state in ("COMPLETED", "FAILED", "CANCELLED")  # always (and an unknown word)


def _recipients(target: Mapping[str, Any]) -> list[str]:
    raw = target.get("recipients") or []
    items = raw.split(",") if isinstance(raw, str) else raw
    return [str(item).strip() for item in items if str(item).strip()]


class JobNotifier:
    def __init__(self, jobs: JobService, mailer: Mailer, policy: RetryPolicy | None = None) -> None:
        self._jobs = jobs
        self._mailer = mailer
        self._policy = policy or RetryPolicy()
        self._last_state: dict[tuple[str, str], str] = {}  # (owner, job type) → the last ended state
        self._sending: set[asyncio.Task[None]] = set()

    def install(self) -> None:
        self._jobs.subscribe(self.on_event, has_notify)

    async def on_event(self, event: JobEvent) -> None:
        if event.cause != ENDED or event.request.parent_id:
            return
        request = event.request
        key = (event.definition.owner_key, request.job_type)
        previous_failed = self._last_state.get(key) == "FAILED"
        self._last_state[key] = request.job_state
        subject = f"[myrmica] {request.job_type} {request.job_state}"
        text = (f"Job {request.job_type} request {request.id} ended {request.job_state}"
                + (f": {request.error_code} {request.error_message}" if request.job_state != "COMPLETED" else "")
                + ".")
        notify = notify_of(event.definition)
        email = notify.get("email")
        if isinstance(email, dict) and wanted(str(email.get("when") or "always"), request.job_state, previous_failed):
            for to in _recipients(email):
                task = asyncio.create_task(self._mail(request.id, to, subject, text))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        slack = notify.get("slack")
        if isinstance(slack, dict) and wanted(str(slack.get("when") or "always"), request.job_state, previous_failed):
            for to in _recipients(slack):
                if not to.startswith(("https://", "http://")):
                    log.info("request %s: slack recipient %s skipped (not an incoming-webhook URL)", request.id, to)
                    continue
                await self._jobs.send_webhook(WebhookCall(
                    url=to, body=json.dumps({"text": text}), headers={"Content-Type": "application/json"},
                    policy=self._policy, source=request.id, event=f"notify.{request.job_state}"))

    async def _mail(self, request_id: str, to: str, subject: str, text: str) -> None:
        if not self._mailer.configured:
            log.warning("request %s: no email to %s: no SMTP server is set (smtp_host)", request_id, to)
            return
        await send_retrying(self._mailer, to, subject, text, about=f"request {request_id}")
