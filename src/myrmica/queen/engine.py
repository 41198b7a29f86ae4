"""The composition root of a queen: it builds the parts (each knowing the others only by the narrow
interfaces of ``ports.py``), wires them to the broker, and offers the job service to the dialects.

    dialects (api/…) → service (JobService) → engine parts (queen/…) → store / broker
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from myrmica.api.context import AppContext
from myrmica.artifacts import open_artifact_store
from myrmica.broker.base import Broker
from myrmica.broker.memory import MemoryBroker
from myrmica.clock import utcnow
from myrmica.config import Settings
from myrmica.domain.definitions import parsed_document
from myrmica.domain.errors import NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionRecord
from myrmica.domain.trigger_config import s3_mode
from myrmica.ids import new_id
from myrmica.mail import SmtpMailer
from myrmica.queen.ants import AntRegistry
from myrmica.queen.approval_sla import ApprovalSla
from myrmica.queen.artifacts import ArtifactKeeper
from myrmica.queen.background import BackgroundTasks
from myrmica.queen.cron import CronKeeper
from myrmica.queen.dispatch import Dispatch
from myrmica.queen.embedded import EmbeddedAnt
from myrmica.queen.ends import EndWatchers, RequestEndings
from myrmica.queen.events import EventHub
from myrmica.queen.housekeeping import Housekeeping
from myrmica.queen.leader import LeaderElection
from myrmica.queen.logs import LogSink
from myrmica.queen.operations import Operations
from myrmica.queen.peers import Peers
from myrmica.queen.ports import RunTools
from myrmica.queen.queue_triggers import QueueTriggers
from myrmica.queen.run_ends import RunEnder
from myrmica.queen.run_keeper import RunKeeper
from myrmica.queen.runs import RunFactory
from myrmica.queen.scheduler import Doorbell, Scheduler
from myrmica.queen.specs import SpecCache
from myrmica.queen.sqs_notifications import SqsNotifications, is_sqs
from myrmica.queen.supervisors import Interruptions, SupervisorRegistry, Supervisors
from myrmica.queen.trigger_clients import S3Lister
from myrmica.queen.webhooks import WebhookSender
from myrmica.security.run_tokens import RUN_TOKEN_PURPOSE
from myrmica.service.accounts import AccountService
from myrmica.service.artifacts import Artifacts
from myrmica.service.catalog import CatalogService
from myrmica.service.cluster import Cluster
from myrmica.service.definitions import Definitions
from myrmica.service.jobs import JobService
from myrmica.service.notifications import JobNotifier
from myrmica.service.queue_messages import QueueMessages
from myrmica.service.run_callbacks import RunCallbacks
from myrmica.service.s3_notifications import S3Notifications
from myrmica.service.s3_triggers import S3Triggers
from myrmica.service.strait import StraitJobs
from myrmica.service.strait_runs import Mint, Quotas, StraitRuns
from myrmica.service.trigger_admin import TriggerAdmin
from myrmica.service.trigger_catalog import TriggerCatalog
from myrmica.service.trigger_fire import TriggerFirer
from myrmica.service.trigger_rate import TriggerRates
from myrmica.service.triggers import WebhookTriggers
from myrmica.service.users import Users
from myrmica.store.accounts import principal_of

STRAIT_SWEEP_SECONDS = 15.0
log = logging.getLogger("myrmica.queen.engine")


class _ChildDefinitions:
    """Child jobs defined inline (Tork's subjobs) become definitions of the parent's owner, through the
    definitions service as any upload (validated, versioned, audited)."""

    def __init__(self, definitions: Definitions) -> None:
        self._definitions = definitions

    async def save_child(self, principal: Principal, document: Mapping[str, Any], *, dialect: str,
                         dialect_settings: Mapping[str, Any] | None) -> tuple[str, int]:
        saved = await self._definitions.upsert(principal, parsed_document(document), dialect=dialect,
                                               dialect_settings=dict(dialect_settings) if dialect_settings else None)
        return saved.definition.job_type, saved.definition.version


def run_token_minter(box: Any) -> Mint:
    """Strait's run tokens (``security/run_tokens.py``, keyed by the server's secret key); "" while that
    module is not installed."""
    try:
        module = importlib.import_module("myrmica.security.run_tokens")
    except ModuleNotFoundError:
        return lambda run_id, expires_at: ""
    key = box.derived_key(module.RUN_TOKEN_PURPOSE)

    def mint(run_id: str, expires_at: Any) -> str:
        return str(module.issue_run_token(key, run_id, expires_at=expires_at))

    return mint


class Engine:
    def __init__(self, settings: Settings, broker: Broker | None = None) -> None:
        self.settings = settings
        self.queen_id = f"queen-{socket.gethostname()}-{os.getpid()}-{new_id()[-6:]}"
        self.broker: Broker = broker or self._broker_for(settings)
        self.distributed = not isinstance(self.broker, MemoryBroker)
        self.rng = random.Random()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._loops: list[asyncio.Task[None]] = []

    def _broker_for(self, settings: Settings) -> Broker:
        if not settings.broker_url:
            return MemoryBroker()
        from myrmica.broker.redis import RedisBroker

        return RedisBroker(settings.broker_url, queen_id=self.queen_id)

    @property
    def leader(self) -> bool:
        return self.election.leader

    def _build(self, ctx: AppContext) -> None:
        settings, store, metrics, admin = self.settings, ctx.store, ctx.metrics, ctx.admin
        self._ctx_store, self._ctx_admin = store, admin
        broker, queen_id, distributed = self.broker, self.queen_id, self.distributed
        self.ants = ants = AntRegistry(store.ants)
        self.logs = logs = LogSink(store.logs, max_bytes_per_task=settings.max_log_bytes_per_task)
        specs = SpecCache()
        self.background = background = BackgroundTasks()
        watchers = EndWatchers()
        registry = SupervisorRegistry()
        interrupts = Interruptions()
        doorbell = Doorbell(ants)
        self.events = events = EventHub(store, admin)
        self.webhooks = webhooks = WebhookSender(store.webhooks, queen_id=queen_id)
        self.peers = peers = Peers(broker, logs=logs, watchers=watchers, supervisors=registry)
        self.dispatch = dispatch = Dispatch(broker, ants, distributed=distributed, interrupts=interrupts,
                                            waker=doorbell)
        self.operations = operations = Operations(
            store=store, specs=specs, metrics=metrics, waker=doorbell, supervisors=registry, watchers=watchers,
            publisher=peers, logs=logs, events=events, admin=admin)
        self.cron = cron = CronKeeper(store, operations, admin)
        ends = RequestEndings(metrics=metrics, logs=logs, watchers=watchers, waker=doorbell, publisher=peers,
                              background=background, cron=cron, events=events, distributed=distributed)
        definitions = Definitions(store=store.definitions, audit=store.audit, bundles=store.accounts, metrics=metrics,
                                  listeners=[self._definition_changed])
        self.artifact_store = artifact_store = open_artifact_store(settings.artifacts_url, settings.data_dir)
        self.artifacts = keeper = ArtifactKeeper(artifact_store, store.artifacts,
                                                 artifact_days=settings.artifact_expiration_days,
                                                 cache_days=settings.cache_expiration_days)
        tools = RunTools(store=store, settings=settings, metrics=metrics, logs=logs, ants=ants, dispatch=dispatch,
                         ends=ends, watch=watchers, interrupts=interrupts, submitter=operations, canceller=operations,
                         child_definitions=_ChildDefinitions(definitions), specs=specs, events=events, admin=admin,
                         queen_id=queen_id, distributed=distributed, rng=self.rng, sleep=self.sleep,
                         artifacts=keeper)
        self.scheduler = scheduler = Scheduler(
            store=store, settings=settings, ants=ants, doorbell=doorbell, load=dispatch,
            runs=RunFactory(store, logs, queen_id), launcher=Supervisors(tools, registry), specs=specs, logs=logs,
            metrics=metrics, admin=admin, queen_id=queen_id, distributed=distributed)
        mailer = SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from)
        self.election = LeaderElection(store.leases, queen_id, lease_secs=settings.leader_lease_secs)
        self.housekeeping = Housekeeping(store=store, broker=broker, ants=ants, dispatch=dispatch,
                                         supervisors=registry, interrupts=interrupts, resumer=scheduler, cron=cron,
                                         metrics=metrics, queen_id=queen_id, artifacts=keeper, election=self.election,
                                         sla=ApprovalSla(store, operations, admin,
                                                         escalate=mailer.send if mailer.configured else None),
                                         sla_check_secs=settings.approval_sla_check_secs)
        self.supervisors = registry
        self.embedded = EmbeddedAnt(settings, broker, ants, queen_id=queen_id, distributed=distributed)
        self.run_ender = RunEnder(store=store, supervisors=registry, watchers=watchers, publisher=peers, logs=logs,
                                  events=events, metrics=metrics)
        self.run_keeper = RunKeeper(store=store, ender=self.run_ender, wake_sender=webhooks.wake)
        events.subscribe(self.run_keeper.on_event, lambda definition: definition.get("dialect") == "strait")
        self.run_callbacks = RunCallbacks(token_key=store.box.derived_key(RUN_TOKEN_PURPOSE), runs=store.requests,
                                          signals=store.run_signals, ender=self.run_ender, lines=logs)
        self.trigger_catalog = TriggerCatalog(definitions, admin, rescan_secs=settings.trigger_rescan_secs)
        self.jobs = JobService(
            definitions=definitions, submitter=operations, control=operations, requests=store.requests,
            logs=store.logs, feed=logs, audit=store.audit, capacity=ants, events=events, webhooks=webhooks,
            deleter=store.requests, sealer=store.box, admin=admin, appender=logs)

    def _account_services(self, ctx: AppContext) -> None:
        """Users, organisations, configs, error codes, resources, subscriptions and audits (Formicary's)."""
        store, settings = ctx.store, self.settings
        mailer = SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from)
        catalogs = store.catalogs
        ctx.services["accounts"] = AccountService(orgs=store.orgs, users=store.accounts, audit=store.audit,
                                                  audits=catalogs.audits, subscriptions=catalogs.subscriptions,
                                                  mailer=mailer, now=utcnow)
        ctx.services["catalog"] = CatalogService(
            configs=catalogs.configs, error_codes=catalogs.error_codes, resources=catalogs.resources,
            resource_configs=catalogs.resource_configs, subscriptions=catalogs.subscriptions, quotas=catalogs,
            audit=store.audit, now=utcnow)

    async def _owner_of(self, definition: DefinitionRecord) -> Principal:
        """Who a definition's trigger submits as: its uploader (the admin for the admin's own)."""
        if definition.user_id:
            try:
                return principal_of(await self._ctx_store.accounts.user(definition.user_id))
            except NotFoundError:
                pass
        return self._ctx_admin

    async def _definition_changed(self, definition: dict[str, Any]) -> None:
        self.operations.forget_definitions()
        await self.cron.definition_changed(definition)
        self.trigger_catalog.changed()

    async def start(self, ctx: AppContext) -> None:
        self._build(ctx)
        self.broker.subscribe(on_result=self.dispatch.on_result, on_log=self.logs.add,
                              on_registration=self.ants.on_registration, logs_stored=self.logs.stored)
        self.broker.on_event(self.peers.on_event)
        if self.distributed:  # other queens' followers hear of new lines
            self.logs.on_flushed = lambda ids: self.background.spawn(
                self.peers.publish({"type": "logs", "request_ids": ids}))
        await self.broker.start()
        self.logs.start()
        ctx.services["engine"] = self
        ctx.services["jobs"] = self.jobs
        ctx.services["users"] = Users(ctx.store.accounts, principal_of)
        ctx.services["cluster"] = Cluster(ctx.store.ants, ctx.store.requests)
        ctx.services["runs"] = self.run_callbacks
        strait_jobs = StraitJobs(jobs=self.jobs, store=ctx.store.strait)
        strait_runs = StraitRuns(strait_jobs, run_token_minter(ctx.store.box),
                                 quotas=Quotas(self.settings.strait_max_queued_runs,
                                               self.settings.strait_max_executing_runs))
        self.jobs.subscribe(strait_runs.on_event, lambda definition: definition.dialect == "strait")
        ctx.services["strait"] = (strait_jobs, strait_runs)
        self._strait_runs = strait_runs
        self._account_services(ctx)
        ctx.services["artifacts"] = Artifacts(rows=ctx.store.artifacts, store=self.artifact_store,
                                              logs=ctx.store.logs, requests=ctx.store.requests,
                                              audit=ctx.store.audit, sweeper=self.artifacts,
                                              max_upload_bytes=self.settings.max_upload_bytes,
                                              expire_secs=self.settings.artifact_expiration_days * 86400)
        self.notifier = JobNotifier(self.jobs, SmtpMailer(self.settings.smtp_host, self.settings.smtp_port,
                                                          self.settings.smtp_from))
        self.notifier.install()
        self.trigger_rates = rates = TriggerRates(ctx.store.trigger_states)
        ctx.services["triggers"] = WebhookTriggers(jobs=self.jobs, configs=ctx.store.job_configs, audit=ctx.store.audit,
                                                   admin=ctx.admin, owner_of=self._owner_of, rates=rates)
        firer = TriggerFirer(self.jobs, ctx.store.audit, self._owner_of, rates)
        self.s3_triggers = S3Triggers(catalog=self.trigger_catalog, states=ctx.store.trigger_states, firer=firer,
                                      lister=S3Lister(self.settings), leading=lambda: self.election.leader,
                                      tick_secs=self.settings.trigger_tick_secs)
        ctx.services["s3_triggers"] = self.s3_triggers
        self.s3_notifications = notifications = S3Notifications(firer)
        queue_url = self.settings.trigger_queue_url or self.settings.broker_url
        messages = QueueMessages(firer)

        async def on_entry(definition: DefinitionRecord, trigger: dict[str, Any], entry_id: str,
                           fields: dict[str, str]) -> None:
            handler = notifications.handle_entry if str(trigger.get("type")).lower() == "s3" else messages.handle
            await handler(definition, trigger, entry_id, fields)

        self.queue_triggers = QueueTriggers(
            queue_url, consumer=self.queen_id, listing=self._stream_triggers, handle=on_entry,
            leading=lambda: self.election.leader, tick_secs=self.settings.trigger_tick_secs) if queue_url else None
        self.sqs_notifications = SqsNotifications(
            self.settings, listing=lambda: self._notification_triggers(sqs=True), handle=notifications.handle,
            leading=lambda: self.election.leader, tick_secs=self.settings.trigger_tick_secs)
        ctx.services["queue_triggers"] = self.queue_triggers
        ctx.services["trigger_admin"] = TriggerAdmin(definitions=self.jobs.definitions,
                                                     states=ctx.store.trigger_states, firer=firer)
        ctx.services.setdefault("health_checks", {})["artifacts"] = (self.artifact_store.kind,
                                                                     self.artifact_store.ping)
        ctx.services.setdefault("health_checks", {})["broker"] = (
            "redis" if self.distributed else "in-process", self.broker.ping)
        if self.settings.embedded_ant:
            await self.embedded.start()
        await self.housekeeping.recover()
        await self.cron.sweep()
        await self.election.elect()
        self._loops = [asyncio.create_task(self.election.run(), name="leader-election"),
                       asyncio.create_task(self.scheduler.run(), name="scheduler"),
                       asyncio.create_task(self.housekeeping.run(), name="housekeeping"),
                       asyncio.create_task(self.webhooks.run(), name="webhooks"),
                       asyncio.create_task(self.run_keeper.run(), name="run-keeper"),
                       asyncio.create_task(self._sweep_strait(ctx.admin), name="strait-waiting"),
                       asyncio.create_task(self.s3_triggers.run(), name="s3-triggers")]
        if self.queue_triggers is not None:
            self._loops.append(asyncio.create_task(self.queue_triggers.run(), name="queue-triggers"))
        self._loops.append(asyncio.create_task(self.sqs_notifications.run(), name="s3-notifications"))

    async def _notification_triggers(self, *, sqs: bool) -> list[tuple[DefinitionRecord, dict[str, Any]]]:
        """S3 triggers in notification mode whose topic is an SQS queue (``sqs``) or a Redis stream."""
        return [(d, t) for d, t in await self.trigger_catalog.triggers("s3")
                if s3_mode(t) == "notification" and is_sqs(str(t.get("topic") or "")) == sqs]

    async def _stream_triggers(self) -> list[tuple[DefinitionRecord, dict[str, Any]]]:
        """What reads a Redis stream: queue triggers, and S3 notifications forwarded onto one."""
        return [*await self.trigger_catalog.triggers("queue"), *await self._notification_triggers(sqs=False)]

    async def _sweep_strait(self, admin: Principal) -> None:
        """Strait's waiting runs whose upstream ended while no queen heard of it are released (a safety net:
        the upstream's end releases them at once on the queen where it happened)."""
        while True:
            await asyncio.sleep(STRAIT_SWEEP_SECONDS)
            try:
                await self._strait_runs.sweep_waiting(admin)
            except Exception:  # a database outage: try again at the next sweep
                log.warning("the sweep of Strait's waiting runs failed", exc_info=True)

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        await self.election.resign()  # another queen takes the leader's duties at once
        await self.supervisors.stop_all()
        await self.events.stop()
        await self.webhooks.close()
        await self.embedded.stop()
        await self.logs.stop()
        await self.broker.stop()
