"""Events between queens: new log lines, ends, and cancel/pause of a request another queen runs."""

from __future__ import annotations

import logging
from typing import Any

from myrmica.broker.base import Broker
from myrmica.domain.stop_reasons import end_reason
from myrmica.queen.ports import EndWatch, LogWriter, SupervisorLookup

log = logging.getLogger("myrmica.queen")


class Peers:
    def __init__(self, broker: Broker, *, logs: LogWriter, watchers: EndWatch, supervisors: SupervisorLookup) -> None:
        self._broker = broker
        self._logs = logs
        self._watchers = watchers
        self._supervisors = supervisors

    async def publish(self, event: dict[str, Any]) -> None:
        try:
            await self._broker.publish_event(event)
        except Exception:
            log.exception("could not publish %s", event.get("type"))

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        request_id = str(event.get("request_id") or "")
        if kind == "logs":
            for rid in event.get("request_ids") or []:
                self._logs.notify(str(rid))
        elif kind == "ended":
            for rid in event.get("request_ids") or [request_id]:
                self._watchers.ended(str(rid))
                self._logs.notify(str(rid))
        elif kind in ("cancel", "pause", "end"):
            supervisor = self._supervisors.get(request_id)
            if supervisor is not None and supervisor.task is not None and supervisor.stop_reason is None:
                supervisor.stop_reason = kind if kind != "end" else \
                    end_reason(str(event.get("state") or "FAILED"), str(event.get("error_code") or ""))
                supervisor.task.cancel()
