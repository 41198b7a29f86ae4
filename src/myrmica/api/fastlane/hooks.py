"""What Fastlane does once an execution ends (spec/fastlane.md §3, §6), on the core's events:

* a retry: an execution that ``failed`` with a non-zero exit code, while ``retry_count < retries``,
  makes a new execution (a request) due ``2 ** n`` s later (n = the retry's number: 2 s, 4 s, 8 s, …);
  timed-out, expired and stopped executions are not retried, nor are those of a stopped job. The new
  request's ``user_key`` is derived from the failed one, so an event heard twice makes one retry.
* webhooks: ``succeeds`` (done), ``fails`` (failed) and ``finishes`` (always) each get one POST of the
  execution's JSON (with ``log``, ``error``, ``metadata.custom`` and ``job_id``) and the hook's headers,
  through the core's webhook outbox (stored, retried ``retries`` more times on no answer or a status
  >= 400, 5 s, 10 s, 20 s … apart); every attempt is in the execution's ``metadata.webhookDispatch``.
* e-mail: ``notify.succeeds`` / ``.fails`` / ``.finishes`` (the same triggers) each get one plain-text
  message with Fastlane's subject and the execution's JSON, through the server's SMTP settings
  (``smtp_host``; none: a warning is logged and nothing is sent).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

from myrmica.api.context import AppContext
from myrmica.api.fastlane import views
from myrmica.clock import utcnow
from myrmica.domain.errors import DomainError
from myrmica.domain.fastlane.payload import expires_at, retry_delay
from myrmica.domain.principal import Principal
from myrmica.domain.records import ENDED, JobEvent, NewRequest
from myrmica.domain.webhooks import RetryPolicy, WebhookCall
from myrmica.mail import SmtpMailer
from myrmica.service.jobs import JobService
from myrmica.service.notifications import send_retrying

log = logging.getLogger("myrmica.api.fastlane.hooks")
HOOK_TIMEOUT_SECS = 1.0
MAIL_NOTE = "Automatic message. Please do not reply to this!"
HOOK_BACKOFF_SECS = 5.0  # WEBHOOKS_EXPONENTIAL_BACKOFF_MIN_MS / 1000: 5 s, 10 s, 20 s … (factor 2)
HOOK_RETRY_STATUSES = frozenset(range(400, 600))  # Fastlane retries any status >= 400, and no answer


def owner_of(event: JobEvent) -> Principal:
    request = event.request
    return Principal(user_id=request.user_id or "", username="fastlane", organization_id=request.organization_id)


def hook_kinds(state: str) -> tuple[str, ...]:
    return {"done": ("succeeds", "finishes"), "failed": ("fails", "finishes")}.get(state, ("finishes",))


class FastlaneHooks:
    def __init__(self, jobs: JobService, mailer: SmtpMailer | None = None) -> None:
        self._jobs = jobs
        self._mailer = mailer
        self._mails: set[asyncio.Task[None]] = set()

    async def on_event(self, event: JobEvent) -> None:
        if event.cause != ENDED:
            return
        principal = owner_of(event)
        record = await self._jobs.get(principal, event.request.id)
        definition = event.definition
        metadata = dict(views.settings(definition).get("metadata") or {})
        await self._retry(principal, record, metadata)
        await self._webhooks(principal, record, definition, metadata)
        await self._notify(principal, record, definition, metadata)

    async def _retry(self, principal: Principal, record: Any, metadata: dict[str, Any]) -> None:
        done = int((record.params or {}).get("fastlane_retry") or 0)
        code = views.exit_code(record)
        if views.status(record) != "failed" or not code or done >= int(metadata.get("retries") or 0):
            return
        try:
            current = await self._jobs.definitions.get(principal, record.job_type)
        except DomainError:
            return
        if current.disabled:  # the job was stopped
            return
        params = {**(record.params or {}), "fastlane_retry": done + 1}
        due = utcnow() + timedelta(seconds=retry_delay(done + 1))
        await self._jobs.submit(principal, NewRequest(job_type=record.job_type, params=params, scheduled_at=due,
                                                      expires_at=expires_at(params.get("fastlane_expiration")),
                                                      user_key=f"fastlane-retry-of-{record.id}",
                                                      description=record.description))

    async def _webhooks(self, principal: Principal, record: Any, definition: Any, metadata: dict[str, Any]) -> None:
        hooks = metadata.get("webhooks") or {}
        wanted = [hook for kind in hook_kinds(views.status(record)) for hook in hooks.get(kind) or []
                  if isinstance(hook, dict) and hook.get("url")]
        if not wanted:
            return
        log_text, error = await views.outputs(self._jobs, principal, record)
        body = views.execution(definition, record, log=log_text, error=error, with_logs=True)
        body["metadata"] = {**body["metadata"], "custom": metadata.get("custom") or {}}
        body["job_id"] = views.settings(definition).get("job_id")
        text = json.dumps(body)
        for hook in wanted:
            headers = {"Content-Type": "application/json",
                       **{str(k): str(v) for k, v in (hook.get("headers") or {}).items()}}
            retries = hook.get("retries")
            attempts = 1 + (retries if isinstance(retries, int) and 0 <= retries < 10 else 0)
            try:
                call = WebhookCall(url=str(hook["url"]), body=text, headers=headers, source=record.id,
                                   event=f"fastlane.{views.status(record)}",
                                   policy=RetryPolicy(attempts=attempts, timeout_secs=HOOK_TIMEOUT_SECS,
                                                      backoff_secs=HOOK_BACKOFF_SECS, backoff="doubling",
                                                      retry_statuses=HOOK_RETRY_STATUSES))
            except DomainError as exc:
                log.warning("a webhook of execution %s is skipped: %s", record.id, exc.message)
                continue
            await self._jobs.send_webhook(call)


    async def _notify(self, principal: Principal, record: Any, definition: Any, metadata: dict[str, Any]) -> None:
        notify = metadata.get("notify") or {}
        state = views.status(record)
        wanted = [(kind, to) for kind in hook_kinds(state) for to in notify.get(kind) or []
                  if isinstance(to, str) and "@" in to]
        if not wanted:
            return
        if self._mailer is None or not self._mailer.configured:
            log.warning("execution %s: no e-mail to %d address(es): no SMTP server is set (smtp_host)",
                        record.id, len(wanted))
            return
        own = views.settings(definition)
        name = f"{own.get('task_id')}/{own.get('job_id')}"
        log_text, error = await views.outputs(self._jobs, principal, record)
        shape = views.execution(definition, record, log=log_text, error=error, with_logs=True)
        text = f"{MAIL_NOTE}\n\n{json.dumps(shape, indent=2, sort_keys=True)}\n"
        for kind, to in wanted:
            task = asyncio.create_task(self._mail(record.id, to, mail_subject(kind, name, views.exit_code(record)),
                                                  text))
            self._mails.add(task)
            task.add_done_callback(self._mails.discard)

    async def _mail(self, execution_id: str, to: str, subject: str, text: str) -> None:
        assert self._mailer is not None
        await send_retrying(self._mailer, to, subject, text, about=f"execution {execution_id}")


def mail_subject(kind: str, name: str, code: int | None) -> str:
    """Fastlane's subjects: ``[Fastlane] Job <task>/<job> succeeded!`` (succeeds), ``… failed with exit
    code <n>!`` (fails), ``… finished with exit code <n>!`` (finishes)."""
    what = {"succeeds": "succeeded", "fails": f"failed with exit code {code}"}.get(
        kind, f"finished with exit code {code}")
    return f"[Fastlane] Job {name} {what}!"


def start(ctx: AppContext) -> None:
    jobs = ctx.services.get("jobs")
    if isinstance(jobs, JobService):
        settings = ctx.settings
        hooks = FastlaneHooks(jobs, SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from))
        jobs.subscribe(hooks.on_event, views.is_fastlane)
