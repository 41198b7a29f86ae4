"""The distributed broker: queens and ants talk through Redis Streams.

Layout under a prefix (``myrmica`` by default):

- ``{prefix}:ant:{ant_id}`` — a stream per ant (group ``ant``, consumer = the ant id): execute and control
  messages from the queens.
- ``{prefix}:replies:{queen_id}`` — a stream per queen (group ``queen``): results and log lines from ants.
- ``{prefix}:ants`` — a hash, ant id → its latest registration (JSON), rewritten at every heartbeat.
- ``{prefix}:reserved:{ant_id}`` — a set of the task-execution keys reserved on an ant (capacity).
- ``{prefix}:events`` — a pub/sub channel of events between queens.

Each stream entry has one field ``m``: ``{"kind": "execute"|"control"|"result"|"log", "body": {...}}``.
Entries are acknowledged (and deleted) once handled; an entry that is not ours is logged and acknowledged.
Losing Redis is never fatal: every loop retries with backoff, and the outage is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, ResponseError

from myrmica.broker._redis_outbox import Outbox
from myrmica.broker._redis_support import (
    ANT_GROUP,
    BACKOFF_MAX,
    QUEEN_GROUP,
    RESERVE_LUA,
    TRANSIENT,
    Backoff,
    BrokerStopped,
    Keys,
    Link,
    Malformed,
    decode,
    encode,
    redact,
    require_id,
)
from myrmica.broker.base import LogHandler, LogsStored, RegistrationHandler, ResultHandler
from myrmica.broker.messages import LogLine, TaskRequest, TaskResult

__all__ = ["BrokerStopped", "RedisBroker"]

log = logging.getLogger("myrmica.broker.redis")

T = TypeVar("T")
EventHandler = Callable[[dict[str, Any]], Awaitable[None]]
Entry = tuple[str, dict[str, Any] | None]

BLOCK_MS = 1000
MAX_CONNECTIONS = 24  # a few held by blocking reads (replies, events), the rest shared by commands
REGISTRATION_POLL_SECONDS = 1.0
SHORT_RETRY_SECONDS = 5.0  # register/reserve/release…: give up (raise) after an outage this long
DRAIN_SECONDS = 5.0
RESULT_HANDLER_ATTEMPTS = 3
MAX_RESULTS_IN_HAND = 5000  # results read but not yet recorded; reading pauses beyond this
ANT_KINDS = frozenset({"execute", "control"})
REPLY_KINDS = frozenset({"result", "log"})


class RedisBroker:
    ant_releases = True
    def __init__(self, url: str, *, queen_id: str = "", prefix: str = "myrmica") -> None:
        self.url = url
        self.queen_id = queen_id
        self.keys = Keys(prefix)
        # Bounded: a burst of tasks shares these connections instead of opening one each.
        self._pool = BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=None,
                                                     decode_responses=True, socket_connect_timeout=2.0,
                                                     socket_timeout=BLOCK_MS / 1000 + 5.0, retry=Retry(NoBackoff(), 1))
        self._client: Redis = Redis(connection_pool=self._pool)
        self._reserve_script = self._client.register_script(RESERVE_LUA)
        self._closing = asyncio.Event()
        self._link = Link(redact(url), self._closing)
        self._outbox = Outbox(self._client, self._link, self._closing)
        self._on_result: ResultHandler | None = None
        self._on_log: LogHandler | None = None
        self._logs_stored: LogsStored | None = None
        self._on_registration: RegistrationHandler | None = None
        self._event_handlers: list[EventHandler] = []
        self._events_ready = asyncio.Event()
        self._adopted: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._in_hand: dict[asyncio.Task[None], int] = {}  # result batches being recorded → their size
        self._log_acks: set[asyncio.Task[None]] = set()  # log lines acknowledged once stored
        self._started = False
        self._stopped = False

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background loops; returns even when Redis does not answer (they keep retrying)."""
        if self._started:
            return
        self._started = True
        self._outbox.ensure_running()
        self._start_loops()
        try:
            await self._client.ping()
        except TRANSIENT as exc:
            self._link.failed(exc)
            return
        self._link.ok()
        if self._event_handlers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._events_ready.wait(), timeout=2.0)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._closing.set()
        await self._outbox.drain(DRAIN_SECONDS)
        if self._log_acks:  # the queen stored its lines before stopping us: say so, or its heir adds them again
            await asyncio.wait(set(self._log_acks), timeout=DRAIN_SECONDS)
        tasks = list(self._tasks.values()) + list(self._in_hand) + list(self._log_acks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self._client.aclose()
        with contextlib.suppress(Exception):
            await self._pool.aclose()

    async def ping(self) -> None:
        """Raises when Redis does not answer."""
        await asyncio.wait_for(self._client.ping(), timeout=5.0)

    def _start_loops(self) -> None:
        if not self._started or self._closing.is_set():
            return
        if self._on_result is not None and self.queen_id:
            self._spawn(f"replies:{self.queen_id}", lambda: self._consume_replies(self.queen_id, adopted=False))
            for queen_id in self._adopted:
                self._spawn(f"replies:{queen_id}", partial(self._consume_replies, queen_id, adopted=True))
        if self._on_registration is not None:
            self._spawn("registrations", self._poll_registrations)
        if self._event_handlers:
            self._spawn("events", self._listen_events)

    def _spawn(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if name in self._tasks:
            return
        task = asyncio.create_task(loop(), name=f"redis-broker-{name}")
        task.add_done_callback(self._loop_ended)
        self._tasks[name] = task

    @staticmethod
    def _loop_ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s ended unexpectedly", task.get_name(), exc_info=task.exception())

    async def _retry(self, what: str, operation: Callable[[], Awaitable[T]], *,
                     give_up_after: float | None = None) -> T:
        """Run ``operation`` until Redis answers; raises BrokerStopped at stop(), or the error after a while."""
        backoff = Backoff()
        deadline = None if give_up_after is None else time.monotonic() + give_up_after
        while True:
            if self._closing.is_set():
                raise BrokerStopped(f"{what}: the broker is stopped")
            try:
                result = await operation()
            except TRANSIENT as exc:
                self._link.failed(exc)
                delay = backoff.next()
                if deadline is not None and time.monotonic() + delay > deadline:
                    raise
                await self._link.pause(delay)
                continue
            self._link.ok()
            return result

    # --- queen side -------------------------------------------------------------------------------

    async def dispatch(self, ant_id: str, request: TaskRequest) -> None:
        if not request.reply_to and self.queen_id:
            request = replace(request, reply_to=self.queen_id)
        fields = encode("execute", request.to_dict())
        stream = self.keys.ant(ant_id)
        await self._retry(f"dispatch to {ant_id}", lambda: self._client.xadd(stream, fields))

    async def control(self, ant_id: str, message: dict[str, Any]) -> None:
        if not isinstance(message.get("action"), str):
            raise ValueError(f"a control message needs an action: {message!r}")
        fields = encode("control", {k: v for k, v in message.items() if k != "_id"})
        stream = self.keys.ant(ant_id)
        await self._retry(f"control to {ant_id}", lambda: self._client.xadd(stream, fields))

    def subscribe(self, *, on_result: ResultHandler, on_log: LogHandler,
                  on_registration: RegistrationHandler, logs_stored: LogsStored | None = None) -> None:
        self._on_result, self._on_log, self._on_registration = on_result, on_log, on_registration
        self._logs_stored = logs_stored
        self._start_loops()

    async def adopt_replies(self, queen_id: str) -> None:
        """Also consume the reply stream of a queen that died, its unacknowledged entries included."""
        if not queen_id or queen_id == self.queen_id or queen_id in self._adopted:
            return
        self._adopted.add(queen_id)
        log.info("queen %s adopts the replies addressed to queen %s", self.queen_id, queen_id)
        self._start_loops()

    def on_event(self, handler: EventHandler) -> None:
        self._event_handlers.append(handler)
        self._start_loops()

    async def publish_event(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, separators=(",", ":"), default=str)
        await self._retry("publish an event", lambda: self._client.publish(self.keys.events, data),
                          give_up_after=SHORT_RETRY_SECONDS)

    async def reserve(self, choices: Sequence[tuple[str, int]], key: str) -> str | None:
        """Reserve ``key`` on the first ant of ``choices`` with room, in one atomic script (one round trip
        whatever the number of candidates)."""
        if not choices:
            return None
        arguments = (*(self.keys.reserved(ant_id) for ant_id, _ in choices), key,
                     *(capacity for _, capacity in choices))
        chosen = await self._retry(f"reserve {key}", lambda: self._run_reserve(len(choices), arguments),
                                   give_up_after=SHORT_RETRY_SECONDS)
        return choices[int(chosen) - 1][0] if int(chosen) > 0 else None

    async def _run_reserve(self, key_count: int, arguments: tuple[Any, ...]) -> Any:
        # EVALSHA directly: redis-py's Script object checks its client against a typing Protocol on
        # every call, which cost more than the round trip.
        script = self._reserve_script
        try:
            return await self._client.evalsha(script.sha, key_count, *arguments)
        except NoScriptError:  # a restarted or another Redis: load it again
            script.sha = await self._client.script_load(script.script)
            return await self._client.evalsha(script.sha, key_count, *arguments)

    async def release(self, ant_id: str, key: str) -> None:
        await self._retry(f"release on {ant_id}", lambda: self._client.srem(self.keys.reserved(ant_id), key),
                          give_up_after=SHORT_RETRY_SECONDS)

    async def reserved_counts(self, ant_ids: Sequence[str]) -> dict[str, int]:
        async def count() -> list[Any]:
            async with self._client.pipeline(transaction=False) as pipe:
                for ant_id in ant_ids:
                    pipe.scard(self.keys.reserved(ant_id))
                return list(await pipe.execute())

        counts = await self._retry("count reservations", count, give_up_after=SHORT_RETRY_SECONDS) if ant_ids else []
        return {ant_id: int(n) for ant_id, n in zip(ant_ids, counts, strict=True)}

    async def reservations(self, ant_id: str) -> set[str]:
        members = await self._retry(f"reservations of {ant_id}",
                                    lambda: self._client.smembers(self.keys.reserved(ant_id)),
                                    give_up_after=SHORT_RETRY_SECONDS)
        return {str(m) for m in members}

    async def forget_ant(self, ant_id: str) -> None:
        async def forget() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hdel(self.keys.ants, ant_id)
                pipe.delete(self.keys.reserved(ant_id), self.keys.ant(ant_id))
                await pipe.execute()

        await self._retry(f"forget {ant_id}", forget, give_up_after=SHORT_RETRY_SECONDS)

    # --- ant side ---------------------------------------------------------------------------------

    async def register(self, registration: dict[str, Any]) -> None:
        ant_id = str(registration.get("ant_id") or "")
        if not ant_id:
            raise ValueError("a registration needs an ant_id")
        data = json.dumps(registration, separators=(",", ":"), default=str)
        await self._retry(f"register {ant_id}", lambda: self._client.hset(self.keys.ants, ant_id, data),
                          give_up_after=SHORT_RETRY_SECONDS)

    async def messages(self, ant_id: str) -> AsyncGenerator[dict[str, Any], None]:
        """This ant's messages: first its own unacknowledged ones (a restart resumes them), then new ones."""
        stream = self.keys.ant(ant_id)
        async for entries in self._read_group(stream, ANT_GROUP, ant_id, claim=False, count=10):
            for entry_id, fields in entries:
                try:
                    message = self._ant_message(fields)
                except Malformed as exc:
                    log.warning("%s: entry %s skipped: %s", stream, entry_id, exc)
                    if not await self._ack_quietly(stream, ANT_GROUP, [entry_id]):
                        return
                    continue
                message["_id"] = entry_id
                yield message

    @staticmethod
    def _ant_message(fields: dict[str, Any] | None) -> dict[str, Any]:
        kind, body = decode(fields, ANT_KINDS)
        if kind == "execute":
            require_id(kind, body)
            try:
                request = TaskRequest.from_dict(body)
            except TypeError as exc:
                raise Malformed(f"an execute message with missing fields: {exc}") from None
            return {"action": "EXECUTE", "request": request}
        if not isinstance(body.get("action"), str):
            raise Malformed("a control message without an action")
        return dict(body)

    async def ack(self, ant_id: str, message: dict[str, Any]) -> None:
        entry_id = message.get("_id")
        if not isinstance(entry_id, str) or not entry_id:
            return
        await self._ack_quietly(self.keys.ant(ant_id), ANT_GROUP, [entry_id])

    async def _ack_quietly(self, stream: str, group: str, entry_ids: list[str]) -> bool:
        """Acknowledge; False when the broker stopped first (the entries will be delivered again)."""
        try:
            await self._ack(stream, group, entry_ids)
        except BrokerStopped:
            log.debug("%s: broker stopped before %s was acknowledged", stream, entry_ids)
            return False
        return True

    async def send_result(self, result: TaskResult, answering: dict[str, Any] | None = None) -> None:
        """The result, the release of the ant's reservation and the acknowledgement of the message it
        answers go to Redis in one pipeline, in that order."""
        then: list[tuple[str, ...]] = []
        if answering is not None and result.ant_id:
            then.append(("SREM", self.keys.reserved(result.ant_id), f"{result.task_execution_id}:{result.attempt}"))
            entry_id = answering.get("_id")
            if isinstance(entry_id, str) and entry_id:
                stream = self.keys.ant(result.ant_id)
                then += [("XACK", stream, ANT_GROUP, entry_id), ("XDEL", stream, entry_id)]
        if not result.reply_to:
            log.warning("the result of %s names no queen to reply to; dropped", result.task_execution_id)
            if then:
                await self._retry("acknowledge an unaddressed result", lambda: self._run_commands(then))
            return
        await self._outbox.put_result(self.keys.replies(result.reply_to), encode("result", result.to_dict()), then)

    async def _run_commands(self, commands: list[tuple[str, ...]]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            await pipe.execute(raise_on_error=False)

    def send_log(self, line: LogLine) -> None:
        if not line.reply_to:
            return
        self._outbox.put_log(self.keys.replies(line.reply_to), encode("log", line.to_dict()))

    # --- streams ----------------------------------------------------------------------------------

    async def _ensure_group(self, stream: str, group: str) -> None:
        try:
            # From the start of the stream: whatever was added before the group existed is delivered too.
            await self._client.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _claim_all(self, stream: str, group: str, consumer: str) -> None:
        """Take over every pending entry of the group (those of a dead queen) for ``consumer``."""
        cursor = "0-0"
        while True:
            reply = await self._client.xautoclaim(stream, group, consumer, 0, cursor, count=500)
            cursor = str(reply[0])
            if cursor in ("0", "0-0"):
                return

    async def _read_group(self, stream: str, group: str, consumer: str, *, claim: bool,
                          count: int) -> AsyncIterator[list[Entry]]:
        """Batches of entries for ``consumer``: its pending ones first, then new ones; retries forever."""
        backoff = Backoff()
        cursor, setup, refused = "0", True, ""
        while not self._closing.is_set():
            try:
                if setup:
                    await self._ensure_group(stream, group)
                    if claim:
                        await self._claim_all(stream, group, consumer)
                    setup, cursor = False, "0"
                reply = await self._unless_closing(self._client.xreadgroup(
                    group, consumer, {stream: cursor}, count=count, block=BLOCK_MS if cursor == ">" else None))
                if self._closing.is_set():
                    return
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream was deleted, or Redis restarted empty
                    setup = True
                    continue
                if str(exc) != refused:
                    refused = str(exc)
                    log.error("%s: redis refused to read it: %s; retrying", stream, exc)
                await self._link.pause(backoff.next())
                continue
            except TRANSIENT as exc:
                self._link.failed(exc)
                await self._link.pause(backoff.next())
                continue
            self._link.ok()
            backoff.reset()
            refused = ""
            entries = cast(list[Entry], cast(list[Any], reply)[0][1]) if reply else []
            if cursor != ">":
                if not entries:
                    cursor = ">"
                    continue
                cursor = entries[-1][0]
            if entries:
                yield entries

    async def _unless_closing(self, operation: Awaitable[T]) -> T | None:
        """Await ``operation``, but cancel it (None) as soon as stop() is called: a blocked read ends at once."""
        task = asyncio.ensure_future(operation)
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({task, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        return None if task.cancelled() else task.result()

    async def _ack(self, stream: str, group: str, entry_ids: list[str]) -> None:
        """Acknowledge and delete handled entries (nothing else reads them)."""
        async def ack() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.xack(stream, group, *entry_ids)
                pipe.xdel(stream, *entry_ids)
                for reply in await pipe.execute(raise_on_error=False):
                    if isinstance(reply, ResponseError):
                        log.debug("%s: acknowledging %s: %s", stream, entry_ids, reply)
                    elif isinstance(reply, Exception):
                        raise reply

        if entry_ids:
            await self._retry(f"acknowledge on {stream}", ack)

    async def _consume_replies(self, queen_id: str, *, adopted: bool) -> None:
        stream = self.keys.replies(queen_id)
        try:
            async for entries in self._read_group(stream, QUEEN_GROUP, self.queen_id, claim=adopted, count=500):
                await self._handle_replies(stream, entries)
                while sum(self._in_hand.values()) > MAX_RESULTS_IN_HAND:
                    await asyncio.wait(list(self._in_hand), return_when=asyncio.FIRST_COMPLETED)
        except BrokerStopped:
            return

    async def _handle_replies(self, stream: str, entries: list[Entry]) -> None:
        """Log lines go to their handler at once, in order. The batch's results are handed over in the
        background — each waits until its queen recorded it, then it is acknowledged — so the next
        batch is read meanwhile rather than after the slowest record of this one. Log lines too are
        acknowledged only once stored: a queen killed with lines in its buffer leaves them to its heir."""
        done: list[str] = []
        logged: list[str] = []
        results: list[tuple[str, TaskResult]] = []
        for entry_id, fields in entries:
            try:
                kind, body = decode(fields, REPLY_KINDS)
                require_id(kind, body)
                item: TaskResult | LogLine = TaskResult.from_dict(body) if kind == "result" else LogLine.from_dict(body)
            except (Malformed, TypeError) as exc:
                log.warning("%s: entry %s skipped: %s", stream, entry_id, exc)
                done.append(entry_id)
                continue
            if isinstance(item, LogLine):
                try:
                    if self._on_log is not None:
                        self._on_log(item)
                except Exception:
                    log.exception("%s: the log handler failed on entry %s", stream, entry_id)
                    done.append(entry_id)
                else:
                    logged.append(entry_id)
                continue
            results.append((entry_id, item))
        if self._logs_stored is None:
            done += logged
        elif logged:
            task = asyncio.create_task(self._ack_when_stored(stream, logged))
            self._log_acks.add(task)
            task.add_done_callback(self._log_acks.discard)
        await self._ack(stream, QUEEN_GROUP, done)
        if results:
            task = asyncio.create_task(self._record_results(stream, results))
            self._in_hand[task] = len(results)
            task.add_done_callback(self._in_hand.pop)

    async def _ack_when_stored(self, stream: str, entry_ids: list[str]) -> None:
        assert self._logs_stored is not None
        backoff = Backoff()
        while not await self._logs_stored():  # the database is away: the lines wait in the queen's buffer
            await self._link.pause(backoff.next())
        await self._ack(stream, QUEEN_GROUP, entry_ids)

    async def _record_results(self, stream: str, results: list[tuple[str, TaskResult]]) -> None:
        handled = await asyncio.gather(*(self._deliver_result(stream, entry_id, item) for entry_id, item in results))
        await self._ack(stream, QUEEN_GROUP, [entry_id for (entry_id, _), ok in zip(results, handled, strict=True)
                                              if ok])

    async def _deliver_result(self, stream: str, entry_id: str, result: TaskResult) -> bool:
        """Hand a result to the queen; False (left unacknowledged, redelivered at restart) if it keeps failing."""
        backoff = Backoff()
        for attempt in range(1, RESULT_HANDLER_ATTEMPTS + 1):
            try:
                if self._on_result is not None:
                    await self._on_result(result)
                return True
            except Exception:
                log.exception("%s: the result handler failed on entry %s (attempt %d)", stream, entry_id, attempt)
                if attempt < RESULT_HANDLER_ATTEMPTS:
                    await self._link.pause(backoff.next())
        log.error("%s: the result of %s (entry %s) was not handled; left unacknowledged", stream,
                  result.task_execution_id, entry_id)
        return False

    # --- registrations and events -----------------------------------------------------------------

    async def _poll_registrations(self) -> None:
        """Read the ants' registrations every second; hand over each new or changed one."""
        seen: dict[str, str] = {}
        backoff = Backoff()
        while not self._closing.is_set():
            try:
                current = cast(dict[str, str], await self._client.hgetall(self.keys.ants))
            except TRANSIENT as exc:
                self._link.failed(exc)
                await self._link.pause(backoff.next())
                continue
            except ResponseError as exc:
                log.error("%s: redis refused to read the registrations: %s", self.keys.ants, exc)
                await self._link.pause(BACKOFF_MAX)
                continue
            self._link.ok()
            backoff.reset()
            for ant_id, raw in current.items():
                if seen.get(ant_id) == raw:
                    continue
                try:
                    registration = json.loads(raw)
                except ValueError:
                    registration = None
                if not isinstance(registration, dict) or not registration.get("ant_id"):
                    log.warning("%s: the registration of %r is not one of ours; ignored: %.80r", self.keys.ants,
                                ant_id, raw)
                    seen[ant_id] = raw
                    continue
                try:
                    if self._on_registration is not None:
                        await self._on_registration(registration)
                    seen[ant_id] = raw
                except Exception:
                    log.exception("the registration handler failed on ant %s", ant_id)
            for gone in set(seen) - set(current):
                del seen[gone]
            await self._link.pause(REGISTRATION_POLL_SECONDS)

    async def _listen_events(self) -> None:
        backoff = Backoff()
        while not self._closing.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.keys.events)
                self._link.ok()
                backoff.reset()
                self._events_ready.set()
                while not self._closing.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        await self._dispatch_event(message.get("data"))
            except TRANSIENT as exc:
                self._events_ready.clear()
                self._link.failed(exc)
                await self._link.pause(backoff.next())
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8.2

    async def _dispatch_event(self, data: Any) -> None:
        try:
            event = json.loads(data) if isinstance(data, str) else None
        except ValueError:
            event = None
        if not isinstance(event, dict):
            log.warning("%s: an event that is not a JSON object; ignored: %.80r", self.keys.events, data)
            return
        for handler in list(self._event_handlers):
            try:
                await handler(event)
            except Exception:
                log.exception("an event handler failed on %s", event.get("type"))
